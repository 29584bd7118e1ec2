//! Read models in Postgres: in the events' database (next to the events, or in a schema of their
//! own) or in another database.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection as _, Executor as _, Row as _};
use uuid::Uuid;

use super::errors::{read_store_error, Postgres};
use super::schema::{check_read_schema, table_comment};
use super::store::PostgresStore;
use crate::backend::sql::checkpoints::{checkpoint_methods, checkpoint_rows, CheckpointStatements};
use crate::backend::sql::consumers::{consumer_methods, consumer_rows, ConsumerStatements};
use crate::backend::sql::{begin_read_only, section, Dialect, Failure, SqlTransaction};
use crate::core::error::HandlerError;
use crate::core::read_store::{ReadConnection, ReadStore, ReadStoreError};

/// How many connections [`PostgresReadStore::connect`] opens at most.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The schema used unless [`PostgresReadStore::with_schema`] picks another.
const DEFAULT_SCHEMA: &str = "public";

const MIGRATE_SQL: &str = include_str!("sql/read_store_migrate.sql");
const READ_STORE_SQL: &str = include_str!("sql/read_store.sql");

/// Read models in a Postgres database (version 13 or later).
///
/// The database may be the events' own, so that a read model can be joined with anything else
/// there, or another one (a replica-friendly reporting database, say): the runner reads events
/// from its [`EventSource`](crate::EventSource) and writes here.
///
/// Chronicle's tables, `chronicle_checkpoints`, `chronicle_dead_letters` and the consumer tables
/// `chronicle_consumers` and `chronicle_consumed_streams`, live in the store's schema (`public` unless [`with_schema`](Self::with_schema) says otherwise); create them with
/// [`migrate`](Self::migrate). The read models' own tables are the application's: a projection's
/// `#[reset]` method creates them (a runner calls it before its first build), or the application
/// does however it manages its schema. Runner and query connections have the store's schema as
/// their whole `search_path`, so handlers name their tables without a schema and never reach a
/// same-named table of another schema by accident (qualify what you mean to reach elsewhere).
///
/// **One active runner per projection**: a runner leads while it holds a session-level advisory
/// lock keyed on the schema and the projection name, on a connection it keeps for as long as it
/// runs and on which it also writes. When that connection closes (the process died, the network
/// dropped), Postgres releases the lock and a standby runner takes over from the checkpoint.
///
/// Cloning is cheap: clones share the pool.
#[derive(Clone)]
pub struct PostgresReadStore {
    pool: PgPool,
    sql: Arc<Statements>,
}

/// The beginning of a runner's batch transaction ([`ReadStore::begin_batch`]): one round trip,
/// and the commit does not wait for the WAL flush. A crash may lose the last such commits, each
/// with its checkpoint, never one without the other; the runner applies them again.
const BEGIN_BATCH: &str = "BEGIN; SET LOCAL synchronous_commit TO off";

/// What a runner's session's `application_name` starts with, before the runner's owner id: how
/// [`holder`](ReadStore::holder) tells who holds a claim.
const OWNER_PREFIX: &str = "chronicle:";

/// The comment the migration leaves on `chronicle_checkpoints` when the tables are complete (the
/// last statement of `sql/read_store_migrate.sql`).
const READ_STORE_MARKER: &str = "Chronicle read store. Table layout 3.";

/// The store's SQL, built once per schema.
struct Statements {
    schema: String,
    migrate: String,
    search_path: String,
    begin_read_only: String,
    try_lead: String,
    release_lead: String,
    holder: String,
    checkpoints: CheckpointStatements,
    consumers: ConsumerStatements,
}

impl Statements {
    fn new(schema: &str) -> Self {
        let statement = |name| section(READ_STORE_SQL, name).replace("{schema}", schema);
        Self {
            migrate: MIGRATE_SQL.replace("{schema}", schema),
            search_path: statement("search_path"),
            begin_read_only: statement("begin_read_only"),
            try_lead: statement("try_lead"),
            release_lead: statement("release_lead"),
            holder: statement("holder"),
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
            schema: schema.to_owned(),
        }
    }
}

impl fmt::Debug for PostgresReadStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresReadStore")
            .field("schema", &self.sql.schema)
            .field("pool", &self.pool)
            .finish()
    }
}

impl PostgresReadStore {
    /// Connects to the database at `url` with a pool of up to 10 connections (each running
    /// projection keeps one more of its own).
    pub async fn connect(url: &str) -> Result<Self, ReadStoreError> {
        // No ping before each checkout: it costs a round trip per call; a connection the server
        // dropped fails its statement, which is retried on another (see `begin_read_only`).
        let pool = PgPoolOptions::new()
            .max_connections(DEFAULT_MAX_CONNECTIONS)
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(read_store_error)?;
        Ok(Self::from_pool(pool))
    }

    /// A read store beside `store`'s events (level 1): the same pool and the same schema, where
    /// the store's inline projections keep their read models too.
    pub fn beside(store: &PostgresStore) -> Self {
        Self {
            pool: store.pool().clone(),
            sql: Arc::new(Statements::new(store.schema())),
        }
    }

    /// A read store on an existing pool (the event store's own, for read models next to the
    /// events), using the `public` schema.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(DEFAULT_SCHEMA)),
        }
    }

    /// The same store, with Chronicle's tables in the schema `schema` (created by
    /// [`migrate`](Self::migrate) if missing), which is also the whole `search_path` of handlers
    /// and queries.
    ///
    /// The name must match `[a-z_][a-z0-9_]*`, be at most 63 bytes and not be a system schema;
    /// anything else is refused with [`ReadStoreError::InvalidName`].
    pub fn with_schema(self, schema: &str) -> Result<Self, ReadStoreError> {
        check_read_schema(schema)?;
        Ok(Self {
            pool: self.pool,
            sql: Arc::new(Statements::new(schema)),
        })
    }

    /// The schema of Chronicle's tables.
    pub fn schema(&self) -> &str {
        &self.sql.schema
    }

    /// The connection pool, for the application's own statements (creating read-model tables,
    /// say).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the schema, `chronicle_checkpoints`, `chronicle_dead_letters`, `chronicle_consumers`
    /// and `chronicle_consumed_streams` if missing, and upgrades those of an earlier version in
    /// place. Safe to run at every start, from several processes at once (they take turns on an
    /// advisory lock). Once the tables are complete this only reads the catalog, so a role
    /// without DDL rights (the projector of [`Roles`](crate::Roles)) may call it too.
    pub async fn migrate(&self) -> Result<(), ReadStoreError> {
        let marker = table_comment(&self.pool, &self.sql.schema, "chronicle_checkpoints")
            .await
            .map_err(read_store_error)?;
        if marker.as_deref() == Some(READ_STORE_MARKER) {
            return Ok(());
        }
        sqlx::raw_sql(self.migration_sql())
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(read_store_error)
    }

    /// The SQL [`migrate`](Self::migrate) runs (idempotent DDL, for review or a DBA's own run).
    pub fn migration_sql(&self) -> &str {
        &self.sql.migrate
    }

    /// The pool queries and waits read on.
    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn lock_key(&self, projection: &str) -> String {
        format!("chronicle:{}:{projection}", self.sql.schema)
    }

    /// A connection of the pool with `setup` run on it first. The pool may hand out connections
    /// it kept through a server restart; one that turns out dead is dropped and another taken,
    /// so that a restart costs no caller an error.
    async fn working_connection(&self, setup: &str) -> Result<PgConnection, ReadStoreError> {
        let mut last = None;
        for _ in 0..=self.pool.options().get_max_connections() {
            let mut connection = self.pool.acquire().await.map_err(read_store_error)?.detach();
            match connection.execute(setup).await {
                Ok(_) => return Ok(connection),
                Err(error) if Postgres::classify(&error) == Failure::ConnectionLost => last = Some(error),
                Err(error) => return Err(read_store_error(error)),
            }
        }
        Err(last.map_or_else(
            || ReadStoreError::Unavailable("no working Postgres connection".into()),
            read_store_error,
        ))
    }

    checkpoint_rows!(PgRow);
    consumer_rows!(PgRow);
}

impl ReadStore for PostgresReadStore {
    type Connection = PgConnection;
    type Session = PgConnection;
    type Transaction<'s> = SqlTransaction<'s, sqlx::Postgres>;
    type ReadOnly = SqlTransaction<'static, sqlx::Postgres>;

    async fn migrate(&self) -> Result<(), ReadStoreError> {
        PostgresReadStore::migrate(self).await
    }

    async fn connect(&self) -> Result<PgConnection, ReadStoreError> {
        // Out of the pool for good (the pool opens a replacement): the advisory lock lives as
        // long as this connection, and dropping it must close it rather than hand it to another
        // user with the lock still held.
        self.working_connection(&self.sql.search_path).await
    }

    async fn close(session: PgConnection) {
        if let Err(error) = session.close().await {
            tracing::debug!(%error, "could not close a runner's connection cleanly");
        }
    }

    async fn begin(session: &mut PgConnection) -> Result<SqlTransaction<'_, sqlx::Postgres>, ReadStoreError> {
        let transaction = session.begin().await.map_err(read_store_error)?;
        Ok(SqlTransaction::new::<Postgres>(transaction))
    }

    async fn begin_batch(
        session: &mut PgConnection,
    ) -> Result<SqlTransaction<'_, sqlx::Postgres>, ReadStoreError> {
        let transaction = session.begin_with(BEGIN_BATCH).await.map_err(read_store_error)?;
        Ok(SqlTransaction::new::<Postgres>(transaction))
    }

    async fn begin_read_only(&self) -> Result<SqlTransaction<'static, sqlx::Postgres>, ReadStoreError> {
        begin_read_only::<Postgres>(&self.pool, &self.sql.begin_read_only, "Postgres").await
    }

    async fn try_lead<'a>(
        &'a self,
        session: &'a mut PgConnection,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> Result<bool, ReadStoreError> {
        let row = sqlx::query(&self.sql.try_lead)
            .bind(self.lock_key(projection))
            .bind(format!("{}ms", lease.as_millis().max(1)))
            .bind(format!("{OWNER_PREFIX}{owner}"))
            .fetch_one(&mut *session)
            .await
            .map_err(read_store_error)?;
        row.try_get(0).map_err(read_store_error)
    }

    async fn keep_lead<'a>(
        &'a self,
        session: &'a mut PgConnection,
        _projection: &'a str,
        _owner: Uuid,
        _lease: Duration,
    ) -> Result<bool, ReadStoreError> {
        // The lock lasts as long as the session: a live connection still holds it.
        session.ping().await.map_err(read_store_error)?;
        Ok(true)
    }

    async fn release_lead<'a>(
        &'a self,
        session: &'a mut PgConnection,
        projection: &'a str,
        _owner: Uuid,
    ) -> Result<(), ReadStoreError> {
        sqlx::query(&self.sql.release_lead)
            .bind(self.lock_key(projection))
            .execute(&mut *session)
            .await
            .map(drop)
            .map_err(read_store_error)
    }

    async fn holder<'a>(&'a self, projection: &'a str) -> Result<Option<String>, ReadStoreError> {
        let holder: Option<String> = sqlx::query_scalar(&self.sql.holder)
            .bind(self.lock_key(projection))
            .fetch_optional(&self.pool)
            .await
            .map_err(read_store_error)?;
        Ok(holder.map(|name| match name.strip_prefix(OWNER_PREFIX) {
            Some(owner) => owner.to_owned(),
            None => name,
        }))
    }

    checkpoint_methods!(Postgres);
    consumer_methods!(Postgres);

    fn is_transient(error: &HandlerError) -> bool {
        Postgres::handler_error_is_transient(error)
    }
}

impl ReadConnection for PgConnection {
    type Store = PostgresReadStore;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_is_in_the_sql_file() {
        let sql = Statements::new("public");
        let c = &sql.checkpoints;
        let k = &sql.consumers;
        for statement in [
            &sql.search_path,
            &sql.begin_read_only,
            &sql.try_lead,
            &sql.release_lead,
            &sql.holder,
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
    }
}

#[cfg(test)]
mod marker {
    #[test]
    fn the_migration_ends_with_the_marker_migrate_looks_for() {
        assert!(super::MIGRATE_SQL
            .trim_end()
            .ends_with(&format!("IS '{}';", super::READ_STORE_MARKER)));
    }
}
