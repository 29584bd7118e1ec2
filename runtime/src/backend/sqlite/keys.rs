//! The SQLite store's key store: `chronicle_subject_keys` in the store's file
//! (`sql/subject_keys_migrate.sql`, created by `migrate`; statements `sql/subject_keys.sql`).

use std::collections::HashMap;

use sqlx::{Row as _, SqlitePool};

use super::errors::store_error;
use crate::backend::sql::section;
use crate::core::error::StoreError;
use crate::core::future::BoxFuture;
use crate::core::pii::keys::{missing, Forgotten, KeyState, KeyStore, Subject};
use crate::core::pii::seal::generate_key;
use crate::core::tenant::Tenant;

pub(super) const MIGRATE_SQL: &str = include_str!("sql/subject_keys_migrate.sql");
const KEYS_SQL: &str = include_str!("sql/subject_keys.sql");

/// The key table of a store's file, on its pool.
#[derive(Debug)]
pub(super) struct SqliteKeyStore {
    pub(super) pool: SqlitePool,
}

impl SqliteKeyStore {
    async fn read(&self, subjects: &[Subject]) -> Result<HashMap<Subject, KeyState>, StoreError> {
        let pairs: Vec<[&str; 2]> = subjects
            .iter()
            .map(|subject| [subject.tenant.as_str(), subject.id.as_str()])
            .collect();
        let subjects = serde_json::to_string(&pairs).map_err(|error| StoreError::Database(error.into()))?;
        let rows = sqlx::query(section(KEYS_SQL, "keys"))
            .bind(subjects)
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                let tenant: String = row.try_get("tenant").map_err(store_error)?;
                let id: String = row.try_get("subject").map_err(store_error)?;
                let subject = Subject::new(Tenant::of_stored(&tenant), id);
                let key: Option<Vec<u8>> = row.try_get("key").map_err(store_error)?;
                let state = KeyState::from_column(&subject, key)?;
                Ok((subject, state))
            })
            .collect()
    }
}

impl KeyStore for SqliteKeyStore {
    fn keys<'a>(
        &'a self,
        subjects: &'a [Subject],
    ) -> BoxFuture<'a, Result<HashMap<Subject, KeyState>, StoreError>> {
        Box::pin(self.read(subjects))
    }

    fn keys_for_writing<'a>(
        &'a self,
        subjects: &'a [Subject],
    ) -> BoxFuture<'a, Result<HashMap<Subject, KeyState>, StoreError>> {
        Box::pin(async move {
            let found = self.read(subjects).await?;
            let missing = missing(subjects, &found);
            if missing.is_empty() {
                return Ok(found);
            }
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(store_error)?;
            for subject in missing {
                sqlx::query(section(KEYS_SQL, "create_key"))
                    .bind(subject.tenant.as_str())
                    .bind(&subject.id)
                    .bind(generate_key().bytes().to_vec())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
            }
            tx.commit().await.map_err(store_error)?;
            self.read(subjects).await
        })
    }

    fn forget<'a>(&'a self, subject: &'a Subject) -> BoxFuture<'a, Result<Forgotten, StoreError>> {
        Box::pin(async move {
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(store_error)?;
            let had_key: Option<bool> = sqlx::query_scalar(section(KEYS_SQL, "had_key"))
                .bind(subject.tenant.as_str())
                .bind(&subject.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
            sqlx::query(section(KEYS_SQL, "forget"))
                .bind(subject.tenant.as_str())
                .bind(&subject.id)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            let snapshots = sqlx::query(section(KEYS_SQL, "forget_snapshots"))
                .bind(subject.tenant.as_str())
                .bind(&subject.id)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            tx.commit().await.map_err(store_error)?;
            Ok(Forgotten {
                key_destroyed: had_key.unwrap_or(false),
                snapshots_deleted: snapshots.rows_affected(),
            })
        })
    }
}
