//! Read models in an embedded SQLite file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Connection as _, Executor as _, Row as _};
use uuid::Uuid;

use super::errors::{read_store_error, Sqlite};
use super::pool::{open_file, MAX_CONNECTIONS};
use crate::backend::sql::checkpoints::{checkpoint_methods, checkpoint_rows, CheckpointStatements};
use crate::backend::sql::consumers::{consumer_methods, consumer_rows, ConsumerStatements};
use crate::backend::sql::{section, Dialect, SqlTransaction};
use crate::core::error::HandlerError;
use crate::core::read_store::{ReadConnection, ReadStore, ReadStoreError};

const MIGRATE_SQL: &str = include_str!("sql/read_store_migrate.sql");
const READ_STORE_SQL: &str = include_str!("sql/read_store.sql");

/// Read models in a SQLite database file, for applications on one machine (the events may still
/// come from Postgres).
///
/// Chronicle's tables are `chronicle_checkpoints`, `chronicle_dead_letters`, `chronicle_leases`
/// and the consumer tables `chronicle_consumers` and `chronicle_consumed_streams`; create them with [`migrate`](Self::migrate). The read models' own tables
/// are the application's.
///
/// Runners write in `BEGIN IMMEDIATE` transactions. Queries run on a second pool whose
/// connections have `PRAGMA query_only` set, so a query cannot write by mistake.
///
/// **One active runner per projection**: a runner leads while it holds a lease row in
/// `chronicle_leases`, renewed as it works and taken over by a standby runner once it expires
/// (the lease duration is [`ProjectionRunner::lease`](crate::ProjectionRunner::lease)). Should two
/// runners overlap, the fenced checkpoint update still lets only one of them commit a batch.
///
/// Cloning is cheap: clones share the pools.
#[derive(Clone, Debug)]
pub struct SqliteReadStore {
    pool: SqlitePool,
    reader: SqlitePool,
    sql: Arc<Statements>,
    /// The file of a [`temporary`](SqliteReadStore::temporary) store, deleted with the last clone.
    temporary: Option<Arc<TemporaryFile>>,
}

/// A database file of a temporary store, deleted (with its WAL and shared-memory files) when
/// dropped.
#[derive(Debug)]
struct TemporaryFile(std::path::PathBuf);

impl Drop for TemporaryFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            // Nothing to do about a file that is already gone, or that cannot be removed.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The store's SQL from `read_store.sql`.
#[derive(Debug)]
struct Statements {
    dead_letters_have_versions: String,
    upgrade_dead_letters: String,
    dead_letters_have_retries: String,
    add_retries_to_dead_letters: String,
    take_lease: String,
    renew_lease: String,
    release_lease: String,
    lease_holder: String,
    checkpoints: CheckpointStatements,
    consumers: ConsumerStatements,
}

impl Statements {
    fn new() -> Self {
        let statement = |name| section(READ_STORE_SQL, name).to_owned();
        Self {
            dead_letters_have_versions: statement("dead_letters_have_versions"),
            upgrade_dead_letters: statement("upgrade_dead_letters"),
            dead_letters_have_retries: statement("dead_letters_have_retries"),
            add_retries_to_dead_letters: statement("add_retries_to_dead_letters"),
            take_lease: statement("take_lease"),
            renew_lease: statement("renew_lease"),
            release_lease: statement("release_lease"),
            lease_holder: statement("lease_holder"),
            checkpoints: CheckpointStatements {
                load: statement("load_checkpoint"),
                list: statement("list_checkpoints"),
                insert: statement("insert_checkpoint"),
                update: statement("update_checkpoint"),
                record_dead_letter: statement("record_dead_letter"),
                delete_dead_letters_at: statement("delete_dead_letters_at"),
                delete_dead_letters_not_of: statement("delete_dead_letters_not_of"),
                dead_letters: statement("dead_letters"),
                request_retry: statement("request_retry"),
            },
            consumers: ConsumerStatements {
                load: statement("load_consumer"),
                insert: statement("insert_consumer"),
                update: statement("update_consumer"),
                consumed_version: statement("consumed_version"),
                save_consumed_version: statement("save_consumed_version"),
                forget_consumed: statement("forget_consumed"),
            },
        }
    }
}

impl SqliteReadStore {
    /// Opens the database file at `path`, creating it if missing, in WAL mode.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, ReadStoreError> {
        Ok(Self::from_pool(open_file(path).await.map_err(read_store_error)?))
    }

    /// A migrated store in a new database file of its own in the system's temporary directory,
    /// deleted when the last clone of the store is dropped: read models for tests, without a
    /// database server (see [`ProjectionTest`](crate::testing::ProjectionTest)).
    pub async fn temporary() -> Result<Self, ReadStoreError> {
        let path = std::env::temp_dir().join(format!("chronicle-temporary-{}.db", Uuid::new_v4().simple()));
        let file = Arc::new(TemporaryFile(path));
        let mut store = Self::open(&file.0).await?;
        store.temporary = Some(file);
        store.migrate().await?;
        Ok(store)
    }

    /// A read store on an existing pool of a database file (not `:memory:`, whose every
    /// connection sees a database of its own). Give its connections a busy timeout. The query
    /// pool is opened with the same options plus `PRAGMA query_only`.
    pub fn from_pool(pool: SqlitePool) -> Self {
        let options = (*pool.connect_options()).clone().pragma("query_only", "ON");
        let reader = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_lazy_with(options);
        Self {
            pool,
            reader,
            sql: Arc::new(Statements::new()),
            temporary: None,
        }
    }

    /// The read-write connection pool, for the application's own statements (creating read-model
    /// tables, say).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The SQL [`migrate`](Self::migrate) runs (idempotent DDL, for review); a dead-letter table
    /// of the first layout is upgraded first, which this does not show.
    pub fn migration_sql() -> &'static str {
        MIGRATE_SQL
    }

    /// Creates Chronicle's tables if missing, and upgrades those of an earlier version in place.
    /// Safe to run at every start.
    pub async fn migrate(&self) -> Result<(), ReadStoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(read_store_error)?;
        let exists: i64 =
            sqlx::query("SELECT COUNT(*) AS found FROM sqlite_master WHERE name = 'chronicle_dead_letters'")
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get("found"))
                .map_err(read_store_error)?;
        if exists > 0 {
            let versioned: i64 = sqlx::query(&self.sql.dead_letters_have_versions)
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get("found"))
                .map_err(read_store_error)?;
            if versioned == 0 {
                // Through `Executor` rather than `raw_sql(..).execute(..)`, whose lifetime bounds
                // make the future fail the `Send` check when spawned.
                (&mut *tx)
                    .execute(self.sql.upgrade_dead_letters.as_str())
                    .await
                    .map_err(read_store_error)?;
            }
            let retries: i64 = sqlx::query(&self.sql.dead_letters_have_retries)
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get("found"))
                .map_err(read_store_error)?;
            if retries == 0 {
                (&mut *tx)
                    .execute(self.sql.add_retries_to_dead_letters.as_str())
                    .await
                    .map_err(read_store_error)?;
            }
        }
        (&mut *tx).execute(MIGRATE_SQL).await.map_err(read_store_error)?;
        tx.commit().await.map_err(read_store_error)
    }

    /// The pool queries and waits read on.
    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    checkpoint_rows!(SqliteRow);
    consumer_rows!(SqliteRow);
}

fn millis_from_now(duration: Duration) -> i64 {
    let now = Utc::now().timestamp_millis();
    now.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

impl ReadStore for SqliteReadStore {
    type Connection = SqliteConnection;
    type Session = SqliteConnection;
    type Transaction<'s> = SqlTransaction<'s, sqlx::Sqlite>;
    type ReadOnly = SqlTransaction<'static, sqlx::Sqlite>;

    async fn migrate(&self) -> Result<(), ReadStoreError> {
        SqliteReadStore::migrate(self).await
    }

    async fn connect(&self) -> Result<SqliteConnection, ReadStoreError> {
        Ok(self.pool.acquire().await.map_err(read_store_error)?.detach())
    }

    async fn close(session: SqliteConnection) {
        if let Err(error) = session.close().await {
            tracing::debug!(%error, "could not close a runner's connection cleanly");
        }
    }

    async fn begin(
        session: &mut SqliteConnection,
    ) -> Result<SqlTransaction<'_, sqlx::Sqlite>, ReadStoreError> {
        // The write lock from the start: two writers that both read first would otherwise
        // deadlock on the upgrade.
        let transaction = session
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(read_store_error)?;
        Ok(SqlTransaction::new::<Sqlite>(transaction))
    }

    async fn begin_read_only(&self) -> Result<SqlTransaction<'static, sqlx::Sqlite>, ReadStoreError> {
        let transaction = self.reader.begin().await.map_err(read_store_error)?;
        Ok(SqlTransaction::new::<Sqlite>(transaction))
    }

    async fn try_lead<'a>(
        &'a self,
        session: &'a mut SqliteConnection,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> Result<bool, ReadStoreError> {
        let done = sqlx::query(&self.sql.take_lease)
            .bind(projection)
            .bind(owner.to_string())
            .bind(millis_from_now(lease))
            .bind(Utc::now().timestamp_millis())
            .execute(&mut *session)
            .await
            .map_err(read_store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn keep_lead<'a>(
        &'a self,
        session: &'a mut SqliteConnection,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> Result<bool, ReadStoreError> {
        let done = sqlx::query(&self.sql.renew_lease)
            .bind(projection)
            .bind(owner.to_string())
            .bind(millis_from_now(lease))
            .execute(&mut *session)
            .await
            .map_err(read_store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lead<'a>(
        &'a self,
        session: &'a mut SqliteConnection,
        projection: &'a str,
        owner: Uuid,
    ) -> Result<(), ReadStoreError> {
        sqlx::query(&self.sql.release_lease)
            .bind(projection)
            .bind(owner.to_string())
            .execute(&mut *session)
            .await
            .map(drop)
            .map_err(read_store_error)
    }

    async fn holder<'a>(&'a self, projection: &'a str) -> Result<Option<String>, ReadStoreError> {
        sqlx::query_scalar(&self.sql.lease_holder)
            .bind(projection)
            .bind(Utc::now().timestamp_millis())
            .fetch_optional(&self.reader)
            .await
            .map_err(read_store_error)
    }

    checkpoint_methods!(Sqlite);
    consumer_methods!(Sqlite);

    fn is_transient(error: &HandlerError) -> bool {
        Sqlite::handler_error_is_transient(error)
    }
}

impl ReadConnection for SqliteConnection {
    type Store = SqliteReadStore;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_is_in_the_sql_file() {
        let sql = Statements::new();
        let c = &sql.checkpoints;
        let k = &sql.consumers;
        for statement in [
            &sql.dead_letters_have_versions,
            &sql.upgrade_dead_letters,
            &sql.dead_letters_have_retries,
            &sql.add_retries_to_dead_letters,
            &sql.take_lease,
            &sql.renew_lease,
            &sql.release_lease,
            &c.load,
            &c.insert,
            &c.update,
            &c.record_dead_letter,
            &c.delete_dead_letters_at,
            &c.delete_dead_letters_not_of,
            &c.dead_letters,
            &c.request_retry,
            &k.load,
            &k.insert,
            &k.update,
            &k.consumed_version,
            &k.save_consumed_version,
            &k.forget_consumed,
        ] {
            assert!(!statement.is_empty(), "{statement:?}");
        }
    }
}
