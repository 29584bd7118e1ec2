//! The Postgres store's key store: `chronicle_subject_keys` in the event store's schema
//! (`sql/subject_keys_migrate.sql`, created by `migrate`; statements `sql/subject_keys.sql`).

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool, Row};

use super::errors::store_error;
use super::schema::table_comment;
use crate::backend::sql::section;
use crate::core::error::StoreError;
use crate::core::future::BoxFuture;
use crate::core::pii::keys::{missing, Forgotten, KeyState, KeyStore, Subject};
use crate::core::pii::payload::Sealed;
use crate::core::pii::seal::generate_key;
use crate::core::store::RecordedEvent;
use crate::core::tenant::Tenant;

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
            keys: keys_statement(schema),
            create_keys: statement("create_keys"),
            forget: statement("forget"),
            forget_snapshots: statement("forget_snapshots"),
        }
    }

    async fn read(&self, subjects: &[Subject]) -> Result<HashMap<Subject, KeyState>, StoreError> {
        read_keys(&self.pool, &self.keys, subjects).await
    }
}

/// The keys and tombstones of `subjects`, by the `keys` statement `statement`, on a pool or in a
/// transaction.
async fn read_keys<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    statement: &str,
    subjects: &[Subject],
) -> Result<HashMap<Subject, KeyState>, StoreError> {
    let (tenants, ids) = columns(subjects);
    let rows = sqlx::query(statement)
        .bind(tenants)
        .bind(ids)
        .fetch_all(executor)
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

/// The `keys` statement on `schema`'s key table.
pub(super) fn keys_statement(schema: &str) -> String {
    section(KEYS_SQL, "keys").replace("{schema}", schema)
}

/// Opens the sealed fields of `events` with `schema`'s key table, read on `connection` (an
/// append's transaction: its inline projections are handed the plaintext, as runners are). The
/// keys were created before the append, by the writer's key lookup.
pub(super) async fn reveal_on(
    connection: &mut PgConnection,
    lookup: &str,
    events: &mut [RecordedEvent],
) -> Result<(), StoreError> {
    let sealed = Sealed::of(events);
    if sealed.is_empty() {
        return Ok(());
    }
    let found = read_keys(&mut *connection, lookup, &sealed.subjects).await?;
    sealed.open(events, &found)
}

/// `subjects` as the two arrays the statements take: their tenants and their ids.
fn columns<'a>(subjects: impl IntoIterator<Item = &'a Subject>) -> (Vec<&'a str>, Vec<&'a str>) {
    subjects
        .into_iter()
        .map(|subject| (subject.tenant.as_str(), subject.id.as_str()))
        .unzip()
}

/// The DDL of `schema`'s key table (idempotent).
pub(super) fn migration_sql(schema: &str) -> String {
    MIGRATE_SQL.replace("{schema}", schema)
}

/// Creates the key table of `schema` if it is missing (a role without DDL rights may call this
/// once it is there: only the catalog is read then).
pub(super) async fn migrate(pool: &PgPool, schema: &str) -> Result<(), StoreError> {
    let marker = table_comment(pool, schema, "chronicle_subject_keys")
        .await
        .map_err(store_error)?;
    if marker.as_deref() != Some(LAYOUT_MARKER) {
        sqlx::raw_sql(&migration_sql(schema))
            .execute(pool)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

impl KeyStore for PostgresKeyStore {
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
            let keys: Vec<Vec<u8>> = missing.iter().map(|_| generate_key().bytes().to_vec()).collect();
            let (tenants, ids) = columns(missing);
            sqlx::query(&self.create_keys)
                .bind(tenants)
                .bind(ids)
                .bind(&keys)
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
            self.read(subjects).await
        })
    }

    fn forget<'a>(&'a self, subject: &'a Subject) -> BoxFuture<'a, Result<Forgotten, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(store_error)?;
            let key_destroyed: bool = sqlx::query_scalar(&self.forget)
                .bind(subject.tenant.as_str())
                .bind(&subject.id)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
            let snapshots = sqlx::query(&self.forget_snapshots)
                .bind(subject.tenant.as_str())
                .bind(&subject.id)
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
