//! The Postgres store's key store: `chronicle_subject_keys` in the event store's schema
//! (`sql/subject_keys_migrate.sql`, created by `migrate`; statements `sql/subject_keys.sql`).

use std::collections::HashMap;

use sqlx::{PgPool, Row};

use super::errors::store_error;
use super::schema::table_comment;
use crate::backend::sql::section;
use crate::core::error::StoreError;
use crate::core::future::BoxFuture;
use crate::core::pii::keys::{Forgotten, KeyState, KeyStore, SubjectKey};
use crate::core::pii::seal::generate_key;

const MIGRATE_SQL: &str = include_str!("sql/subject_keys_migrate.sql");
const KEYS_SQL: &str = include_str!("sql/subject_keys.sql");
const LAYOUT_MARKER: &str = "Chronicle subject keys. Table layout 1.";

/// The key table of one schema, on the store's pool.
#[derive(Debug)]
pub(super) struct PostgresKeyStore {
    pool: PgPool,
    keys: String,
    create_keys: String,
    forget: String,
    forget_snapshots: String,
}

impl PostgresKeyStore {
    pub(super) fn new(pool: PgPool, schema: &str) -> Self {
        let statement = |name| section(KEYS_SQL, name).replace("{schema}", schema);
        Self {
            pool,
            keys: statement("keys"),
            create_keys: statement("create_keys"),
            forget: statement("forget"),
            forget_snapshots: statement("forget_snapshots"),
        }
    }

    async fn read(&self, subjects: &[String]) -> Result<HashMap<String, KeyState>, StoreError> {
        let rows = sqlx::query(&self.keys)
            .bind(subjects)
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                let subject: String = row.try_get("subject").map_err(store_error)?;
                let key: Option<Vec<u8>> = row.try_get("key").map_err(store_error)?;
                let state = match key {
                    None => KeyState::Forgotten,
                    Some(bytes) => KeyState::Active(SubjectKey::from_slice(&bytes).ok_or_else(|| {
                        StoreError::Corrupt {
                            table: "chronicle_subject_keys",
                            detail: format!("the key of subject `{subject}` is not 32 bytes"),
                        }
                    })?),
                };
                Ok((subject, state))
            })
            .collect()
    }
}

/// Creates the key table of `schema` if it is missing (a role without DDL rights may call this
/// once it is there: only the catalog is read then).
pub(super) async fn migrate(pool: &PgPool, schema: &str) -> Result<(), StoreError> {
    let marker = table_comment(pool, schema, "chronicle_subject_keys")
        .await
        .map_err(store_error)?;
    if marker.as_deref() != Some(LAYOUT_MARKER) {
        sqlx::raw_sql(&MIGRATE_SQL.replace("{schema}", schema))
            .execute(pool)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

impl KeyStore for PostgresKeyStore {
    fn keys<'a>(
        &'a self,
        subjects: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, KeyState>, StoreError>> {
        Box::pin(self.read(subjects))
    }

    fn keys_for_writing<'a>(
        &'a self,
        subjects: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, KeyState>, StoreError>> {
        Box::pin(async move {
            let found = self.read(subjects).await?;
            let missing: Vec<String> = subjects
                .iter()
                .filter(|s| !found.contains_key(*s))
                .cloned()
                .collect();
            if missing.is_empty() {
                return Ok(found);
            }
            let keys: Vec<Vec<u8>> = missing.iter().map(|_| generate_key().bytes().to_vec()).collect();
            sqlx::query(&self.create_keys)
                .bind(&missing)
                .bind(&keys)
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
            self.read(subjects).await
        })
    }

    fn forget<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Forgotten, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(store_error)?;
            let key_destroyed: bool = sqlx::query_scalar(&self.forget)
                .bind(subject)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
            let snapshots = sqlx::query(&self.forget_snapshots)
                .bind(subject)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            tx.commit().await.map_err(store_error)?;
            Ok(Forgotten {
                key_destroyed,
                snapshots_deleted: snapshots.rows_affected(),
            })
        })
    }
}
