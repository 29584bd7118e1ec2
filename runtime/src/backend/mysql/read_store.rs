//! Read models in MariaDB (10.6 or later; MySQL 8 speaks the same protocol and SQL).

use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::{MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{Connection as _, Executor as _, Row as _};
use uuid::Uuid;

use super::errors::{read_store_error, MySql};
use crate::backend::sql::checkpoints::{checkpoint_methods, checkpoint_rows, CheckpointStatements};
use crate::backend::sql::consumers::{consumer_methods, consumer_rows, ConsumerStatements};
use crate::backend::sql::{begin_read_only, section, Dialect, SqlTransaction};
use crate::core::error::HandlerError;
use crate::core::read_store::{ReadConnection, ReadStore, ReadStoreError};

/// How many connections [`MySqlReadStore::connect`] opens at most, for writers and for queries
/// each (each running projection keeps one more of its own).
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

const MIGRATE_SQL: &str = include_str!("sql/read_store_migrate.sql");
const READ_STORE_SQL: &str = include_str!("sql/read_store.sql");

/// Read models in a MariaDB database (10.6 or later), through sqlx's MySQL driver: for
/// applications whose reporting lives in MariaDB while the events stay in Postgres or SQLite.
///
/// Chronicle's tables are `chronicle_checkpoints`, `chronicle_dead_letters` and the consumer
/// tables `chronicle_consumers` and `chronicle_consumed_streams`, in the database the URL names;
/// create them with [`migrate`](Self::migrate). The read models' own tables are the application's:
/// a projection's `#[reset]` method creates them, or the application does. Handlers take
/// `&mut chronicle::sqlx::MySqlConnection` and write with `?` parameters.
///
/// **DDL commits.** MariaDB commits the open transaction before (and after) any `CREATE`,
/// `ALTER`, `DROP` or `TRUNCATE`: a `#[reset]` method that creates its tables does so outside the
/// runner's transaction, and so does whatever it writes before them. Write resets that can run
/// again (`CREATE TABLE IF NOT EXISTS`, then `DELETE`): the checkpoint is still saved fenced, and
/// a reset cut short is simply run again.
///
/// **Queries cannot write.** They run in `START TRANSACTION READ ONLY` on a pool of their own
/// whose sessions are read-only too (`SET SESSION TRANSACTION READ ONLY`), so that not even a DDL
/// statement's implicit commit lets a query write; MariaDB refuses with error 1792 (SQLSTATE
/// `25006`).
///
/// **One active runner per projection**: a runner leads while it holds a named lock
/// (`GET_LOCK`) keyed on the database and the projection name, taken on the connection it keeps
/// for as long as it runs and on which it also writes. When that connection closes (the process
/// died, the network dropped), MariaDB releases the lock and a standby runner takes over from the
/// checkpoint. Should two runners overlap, the fenced checkpoint update still lets only one of
/// them commit a batch.
///
/// Times are stored as `DATETIME(6)` in UTC: sqlx sets each session's `time_zone` to `+00:00`
/// (keep that option on when building a pool of your own).
///
/// Cloning is cheap: clones share the pools.
#[derive(Clone, Debug)]
pub struct MySqlReadStore {
    pool: MySqlPool,
    reader: MySqlPool,
    sql: Arc<Statements>,
}

/// The store's SQL from `read_store.sql`.
#[derive(Debug)]
struct Statements {
    session_read_only: String,
    begin_read_only: String,
    try_lead: String,
    keep_lead: String,
    release_lead: String,
    holder: String,
    migrate_lock: String,
    migrate_unlock: String,
    checkpoints: CheckpointStatements,
    consumers: ConsumerStatements,
}

impl Statements {
    fn new() -> Self {
        // The lock name's expression, without its comment lines, goes into the lock statements.
        let lock_name: String = section(READ_STORE_SQL, "lock_name")
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        let statement = |name| section(READ_STORE_SQL, name).replace("{lock_name}", &lock_name);
        Self {
            session_read_only: statement("session_read_only"),
            begin_read_only: statement("begin_read_only"),
            try_lead: statement("try_lead"),
            keep_lead: statement("keep_lead"),
            release_lead: statement("release_lead"),
            holder: statement("holder"),
            migrate_lock: statement("migrate_lock"),
            migrate_unlock: statement("migrate_unlock"),
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

/// The statements of the migration file, one at a time (without the comments).
fn migration_statements() -> impl Iterator<Item = String> {
    MIGRATE_SQL
        .split(';')
        .map(|statement| {
            statement
                .lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|statement| !statement.trim().is_empty())
}

impl MySqlReadStore {
    /// Connects to the database at `url` (`mysql://user:password@host:3306/database`) with a pool
    /// of up to 10 connections for runners and handlers, and another of up to 10 for queries.
    pub async fn connect(url: &str) -> Result<Self, ReadStoreError> {
        let pool = MySqlPoolOptions::new()
            .max_connections(DEFAULT_MAX_CONNECTIONS)
            .connect(url)
            .await
            .map_err(read_store_error)?;
        Ok(Self::from_pool(pool))
    }

    /// A read store on an existing pool, whose connections must name a database (and keep sqlx's
    /// default `time_zone` of `+00:00`). The query pool is opened lazily with the same options,
    /// its sessions read-only.
    pub fn from_pool(pool: MySqlPool) -> Self {
        let sql = Arc::new(Statements::new());
        let read_only = sql.session_read_only.clone();
        let reader = MySqlPoolOptions::new()
            .max_connections(pool.options().get_max_connections())
            .after_connect(move |connection, _| {
                let read_only = read_only.clone();
                Box::pin(async move { connection.execute(read_only.as_str()).await.map(drop) })
            })
            .connect_lazy_with((*pool.connect_options()).clone());
        Self { pool, reader, sql }
    }

    /// The read-write connection pool, for the application's own statements (creating read-model
    /// tables, say).
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Creates `chronicle_checkpoints`, `chronicle_dead_letters`, `chronicle_consumers` and
    /// `chronicle_consumed_streams` if missing. Safe to run at every start, from several processes
    /// at once (they take turns on a named lock).
    pub async fn migrate(&self) -> Result<(), ReadStoreError> {
        // A connection of its own, closed at the end: the migration lock lives as long as it, and
        // must never go back to the pool held.
        let mut connection = self.pool.acquire().await.map_err(read_store_error)?.detach();
        let outcome = self.migrate_on(&mut connection).await;
        if let Err(error) = connection.close().await {
            tracing::debug!(%error, "could not close the migrating connection cleanly");
        }
        outcome
    }

    async fn migrate_on(&self, connection: &mut MySqlConnection) -> Result<(), ReadStoreError> {
        let taken: Option<i64> = sqlx::query(&self.sql.migrate_lock)
            .fetch_one(&mut *connection)
            .await
            .and_then(|row| row.try_get("taken"))
            .map_err(read_store_error)?;
        if taken != Some(1) {
            return Err(ReadStoreError::Unavailable(
                "another process held the migration lock for a minute".into(),
            ));
        }
        for statement in migration_statements() {
            connection
                .execute(statement.as_str())
                .await
                .map_err(read_store_error)?;
        }
        connection
            .execute(self.sql.migrate_unlock.as_str())
            .await
            .map(drop)
            .map_err(read_store_error)
    }

    /// The pool queries and waits read on.
    fn reader(&self) -> &MySqlPool {
        &self.reader
    }

    /// Runs a lock statement for `projection` on `session`, and reads its one number back
    /// (`None` for SQL `NULL`).
    async fn lock_statement(
        session: &mut MySqlConnection,
        statement: &str,
        projection: &str,
    ) -> Result<Option<i64>, ReadStoreError> {
        let row = sqlx::query(statement)
            .bind(projection)
            .fetch_one(&mut *session)
            .await
            .map_err(read_store_error)?;
        row.try_get(0).map_err(read_store_error)
    }

    checkpoint_rows!(MySqlRow);
    consumer_rows!(MySqlRow);
}

impl ReadStore for MySqlReadStore {
    type Connection = MySqlConnection;
    type Session = MySqlConnection;
    type Transaction<'s> = SqlTransaction<'s, sqlx::MySql>;
    type ReadOnly = SqlTransaction<'static, sqlx::MySql>;

    async fn migrate(&self) -> Result<(), ReadStoreError> {
        MySqlReadStore::migrate(self).await
    }

    async fn connect(&self) -> Result<MySqlConnection, ReadStoreError> {
        // Out of the pool for good (the pool opens a replacement): the named lock lives as long
        // as this connection, and dropping it must close it rather than hand it to another user
        // with the lock still held.
        Ok(self.pool.acquire().await.map_err(read_store_error)?.detach())
    }

    async fn close(session: MySqlConnection) {
        if let Err(error) = session.close().await {
            tracing::debug!(%error, "could not close a runner's connection cleanly");
        }
    }

    async fn begin(session: &mut MySqlConnection) -> Result<SqlTransaction<'_, sqlx::MySql>, ReadStoreError> {
        let transaction = session.begin().await.map_err(read_store_error)?;
        Ok(SqlTransaction::new::<MySql>(transaction))
    }

    async fn begin_read_only(&self) -> Result<SqlTransaction<'static, sqlx::MySql>, ReadStoreError> {
        begin_read_only::<MySql>(&self.reader, &self.sql.begin_read_only, "MariaDB").await
    }

    async fn try_lead<'a>(
        &'a self,
        session: &'a mut MySqlConnection,
        projection: &'a str,
        _owner: Uuid,
        _lease: Duration,
    ) -> Result<bool, ReadStoreError> {
        // `NULL`: an error taking it (the session was killed meanwhile, say): not taken.
        Ok(Self::lock_statement(session, &self.sql.try_lead, projection).await? == Some(1))
    }

    async fn keep_lead<'a>(
        &'a self,
        session: &'a mut MySqlConnection,
        projection: &'a str,
        _owner: Uuid,
        _lease: Duration,
    ) -> Result<bool, ReadStoreError> {
        // The lock lasts as long as the session; asking whether this session holds it also
        // proves the connection alive.
        Ok(Self::lock_statement(session, &self.sql.keep_lead, projection).await? == Some(1))
    }

    async fn release_lead<'a>(
        &'a self,
        session: &'a mut MySqlConnection,
        projection: &'a str,
        _owner: Uuid,
    ) -> Result<(), ReadStoreError> {
        Self::lock_statement(session, &self.sql.release_lead, projection)
            .await
            .map(drop)
    }

    async fn holder<'a>(&'a self, projection: &'a str) -> Result<Option<String>, ReadStoreError> {
        sqlx::query_scalar(&self.sql.holder)
            .bind(projection)
            .fetch_optional(&self.pool)
            .await
            .map_err(read_store_error)
    }

    checkpoint_methods!(MySql);
    consumer_methods!(MySql);

    fn is_transient(error: &HandlerError) -> bool {
        MySql::handler_error_is_transient(error)
    }
}

impl ReadConnection for MySqlConnection {
    type Store = MySqlReadStore;
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
            &sql.session_read_only,
            &sql.begin_read_only,
            &sql.try_lead,
            &sql.holder,
            &sql.keep_lead,
            &sql.release_lead,
            &sql.migrate_lock,
            &sql.migrate_unlock,
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
            assert!(!statement.is_empty() && !statement.contains('{'), "{statement:?}");
        }
        assert!(sql.try_lead.contains("SHA2"), "{}", sql.try_lead);
    }

    #[test]
    fn the_migration_is_four_tables_and_the_retry_column() {
        let statements: Vec<String> = migration_statements().collect();
        assert_eq!(statements.len(), 5, "{statements:?}");
        let creates = statements
            .iter()
            .filter(|s| s.trim_start().starts_with("CREATE TABLE IF NOT EXISTS"))
            .count();
        assert_eq!(creates, 4, "{statements:?}");
        // The upgrade of a dead-letter table made before retries, safe to run again.
        assert!(statements.iter().any(|s| s
            .trim_start()
            .starts_with("ALTER TABLE chronicle_dead_letters ADD COLUMN IF NOT EXISTS retry_requested_at")));
    }
}
