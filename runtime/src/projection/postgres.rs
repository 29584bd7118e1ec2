//! Read models in Postgres: in the events' database (next to the events, or in a schema of their
//! own) or in another database.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, Postgres};
use sqlx::{Connection, Executor, Row};
use uuid::Uuid;

use super::{
    checkpoint_from_sql, checkpoint_to_sql, dead_letter_from_sql, validate_schema, CheckpointRow, DeadLetter,
    ProjectionError, ReadConnection, ReadStore,
};
use crate::store::RecordedEvent;

/// How many connections [`PostgresReadStore::connect`] opens at most.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The schema used unless [`PostgresReadStore::with_schema`] picks another.
const DEFAULT_SCHEMA: &str = "public";

/// Read models in a Postgres database (version 13 or later).
///
/// The database may be the events' own, so that a read model can be joined with anything else
/// there, or another one (a replica-friendly reporting database, say): the runner reads events
/// from its [`EventSource`](crate::EventSource) and writes here.
///
/// Chronicle's tables, `chronicle_checkpoints` and `chronicle_dead_letters`, live in the store's
/// schema (`public` unless [`with_schema`](Self::with_schema) says otherwise); create them with
/// [`migrate`](Self::migrate). The read models' own tables are the application's: create them
/// however it manages its schema. Runner and query connections put the store's schema first on
/// their `search_path`, so handlers may name their tables without a schema.
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
    pub async fn connect(url: &str) -> Result<Self, ProjectionError> {
        // No ping before each checkout: it costs a round trip per call, and a connection the
        // server dropped fails its statement with `Unavailable` and is replaced by the pool.
        let pool = PgPoolOptions::new()
            .max_connections(DEFAULT_MAX_CONNECTIONS)
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(ProjectionError::ReadStore)?;
        Ok(Self::from_pool(pool))
    }

    /// A read store on an existing pool (the event store's own, for read models next to the
    /// events), using the `public` schema.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            sql: Arc::new(Statements::new(DEFAULT_SCHEMA.to_owned())),
        }
    }

    /// The same store, with Chronicle's tables in the schema `schema` (created by
    /// [`migrate`](Self::migrate) if missing), which is also first on the `search_path` of
    /// handlers and queries.
    ///
    /// The name must match `[a-z_][a-z0-9_]*` and be at most 63 bytes.
    pub fn with_schema(self, schema: &str) -> Result<Self, ProjectionError> {
        validate_schema(schema)?;
        Ok(Self {
            pool: self.pool,
            sql: Arc::new(Statements::new(schema.to_owned())),
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

    /// Creates the schema, `chronicle_checkpoints` and `chronicle_dead_letters` if missing. Safe
    /// to run at every start, from several processes at once (they take turns on an advisory
    /// lock).
    pub async fn migrate(&self) -> Result<(), ProjectionError> {
        sqlx::raw_sql(&self.sql.migrate)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(ProjectionError::ReadStore)
    }

    fn lock_key(&self, projection: &str) -> String {
        format!("chronicle:{}:{projection}", self.sql.schema)
    }
}

impl ReadStore for PostgresReadStore {
    type Connection = PgConnection;
    type Database = Postgres;

    async fn migrate(&self) -> Result<(), ProjectionError> {
        PostgresReadStore::migrate(self).await
    }

    async fn connect(&self) -> Result<PgConnection, ProjectionError> {
        // Out of the pool for good (the pool opens a replacement): the advisory lock lives as
        // long as this connection, and dropping it must close it rather than hand it to another
        // user with the lock still held.
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(ProjectionError::ReadStore)?
            .detach();
        connection
            .execute(self.sql.search_path.as_str())
            .await
            .map_err(ProjectionError::ReadStore)?;
        Ok(connection)
    }

    async fn begin(
        connection: &mut PgConnection,
    ) -> Result<sqlx::Transaction<'_, Postgres>, ProjectionError> {
        connection.begin().await.map_err(ProjectionError::ReadStore)
    }

    async fn begin_read_only(&self) -> Result<sqlx::Transaction<'static, Postgres>, ProjectionError> {
        self.pool
            .begin_with(self.sql.begin_read_only.clone())
            .await
            .map_err(ProjectionError::ReadStore)
    }

    async fn try_lead<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        projection: &'a str,
        _owner: Uuid,
        _lease: Duration,
    ) -> Result<bool, ProjectionError> {
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(self.lock_key(projection))
            .fetch_one(connection)
            .await
            .map_err(ProjectionError::ReadStore)
    }

    async fn keep_lead<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        _projection: &'a str,
        _owner: Uuid,
        _lease: Duration,
    ) -> Result<bool, ProjectionError> {
        // The lock lasts as long as the session: a live connection still holds it.
        connection.ping().await.map_err(ProjectionError::ReadStore)?;
        Ok(true)
    }

    async fn release_lead<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        projection: &'a str,
        _owner: Uuid,
    ) -> Result<(), ProjectionError> {
        sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(self.lock_key(projection))
            .execute(connection)
            .await
            .map(drop)
            .map_err(ProjectionError::ReadStore)
    }

    async fn load_checkpoint<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        projection: &'a str,
    ) -> Result<Option<CheckpointRow>, ProjectionError> {
        let row = sqlx::query(&self.sql.load_checkpoint)
            .bind(projection)
            .fetch_optional(connection)
            .await
            .map_err(ProjectionError::ReadStore)?;
        checkpoint_row(projection, row)
    }

    async fn read_checkpoint<'a>(
        &'a self,
        projection: &'a str,
    ) -> Result<Option<CheckpointRow>, ProjectionError> {
        let row = sqlx::query(&self.sql.load_checkpoint)
            .bind(projection)
            .fetch_optional(&self.pool)
            .await
            .map_err(ProjectionError::ReadStore)?;
        checkpoint_row(projection, row)
    }

    async fn save_checkpoint<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        projection: &'a str,
        previous: Option<CheckpointRow>,
        next: CheckpointRow,
    ) -> Result<bool, ProjectionError> {
        let (transaction_id, position) = checkpoint_to_sql(next.checkpoint)?;
        let query = match previous {
            None => sqlx::query(&self.sql.insert_checkpoint)
                .bind(projection)
                .bind(i64::from(next.version))
                .bind(transaction_id)
                .bind(position),
            Some(previous) => {
                let (old_transaction_id, old_position) = checkpoint_to_sql(previous.checkpoint)?;
                sqlx::query(&self.sql.update_checkpoint)
                    .bind(projection)
                    .bind(i64::from(next.version))
                    .bind(transaction_id)
                    .bind(position)
                    .bind(i64::from(previous.version))
                    .bind(old_transaction_id)
                    .bind(old_position)
            }
        };
        let done = query
            .execute(connection)
            .await
            .map_err(ProjectionError::ReadStore)?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_dead_letter<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        projection: &'a str,
        event: &'a RecordedEvent,
        error: &'a str,
    ) -> Result<(), ProjectionError> {
        let (transaction_id, position) = checkpoint_to_sql(crate::Checkpoint::of(event))?;
        let stream_version = crate::store::sql::clamp_i64(event.stream_version);
        sqlx::query(&self.sql.dead_letter)
            .bind(projection)
            .bind(position)
            .bind(transaction_id)
            .bind(event.event_id)
            .bind(&event.stream_id)
            .bind(stream_version)
            .bind(&event.event_type)
            .bind(error)
            .execute(connection)
            .await
            .map(drop)
            .map_err(ProjectionError::ReadStore)
    }

    async fn dead_letters<'a>(&'a self, projection: &'a str) -> Result<Vec<DeadLetter>, ProjectionError> {
        let rows = sqlx::query(&self.sql.dead_letters)
            .bind(projection)
            .fetch_all(&self.pool)
            .await
            .map_err(ProjectionError::ReadStore)?;
        rows.iter()
            .map(|row| {
                let get = |e| ProjectionError::ReadStore(e);
                dead_letter_from_sql(
                    row.try_get(0).map_err(get)?,
                    row.try_get(1).map_err(get)?,
                    row.try_get(2).map_err(get)?,
                    row.try_get(3).map_err(get)?,
                    row.try_get(4).map_err(get)?,
                    row.try_get(5).map_err(get)?,
                    row.try_get(6).map_err(get)?,
                    row.try_get(7).map_err(get)?,
                    row.try_get(8).map_err(get)?,
                )
            })
            .collect()
    }
}

impl ReadConnection for PgConnection {
    type Store = PostgresReadStore;
}

fn checkpoint_row(
    projection: &str,
    row: Option<sqlx::postgres::PgRow>,
) -> Result<Option<CheckpointRow>, ProjectionError> {
    let Some(row) = row else { return Ok(None) };
    let version: i32 = row.try_get(0).map_err(ProjectionError::ReadStore)?;
    let transaction_id: i64 = row.try_get(1).map_err(ProjectionError::ReadStore)?;
    let position: i64 = row.try_get(2).map_err(ProjectionError::ReadStore)?;
    checkpoint_from_sql(projection, i64::from(version), transaction_id, position).map(Some)
}

/// The store's SQL, built once per schema.
struct Statements {
    schema: String,
    migrate: String,
    search_path: String,
    begin_read_only: String,
    load_checkpoint: String,
    insert_checkpoint: String,
    update_checkpoint: String,
    dead_letter: String,
    dead_letters: String,
}

impl Statements {
    fn new(schema: String) -> Self {
        let checkpoints = format!("\"{schema}\".chronicle_checkpoints");
        let dead_letters = format!("\"{schema}\".chronicle_dead_letters");
        Self {
            migrate: format!(
                r#"
SELECT pg_advisory_xact_lock(hashtext('chronicle.migrate'), hashtext('{schema}'));

DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{schema}') THEN
        CREATE SCHEMA "{schema}";
    END IF;
END
$do$;

CREATE TABLE IF NOT EXISTS {checkpoints} (
    projection text PRIMARY KEY,
    version int NOT NULL,
    transaction_id bigint NOT NULL,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {dead_letters} (
    projection text NOT NULL,
    position bigint NOT NULL,
    transaction_id bigint NOT NULL,
    event_id uuid NOT NULL,
    stream_id text NOT NULL,
    stream_version bigint NOT NULL,
    event_type text NOT NULL,
    error text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, event_id)
);
"#
            ),
            search_path: format!("SET search_path TO \"{schema}\", public"),
            // Repeatable read: an answer of several statements sees one snapshot.
            begin_read_only: format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL search_path TO \"{schema}\", public"
            ),
            load_checkpoint: format!(
                "SELECT version, transaction_id, position FROM {checkpoints} WHERE projection = $1"
            ),
            insert_checkpoint: format!(
                "INSERT INTO {checkpoints} (projection, version, transaction_id, position) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (projection) DO NOTHING"
            ),
            update_checkpoint: format!(
                "UPDATE {checkpoints} SET version = $2, transaction_id = $3, position = $4, updated_at = now() \
                 WHERE projection = $1 AND version = $5 AND transaction_id = $6 AND position = $7"
            ),
            dead_letter: format!(
                "INSERT INTO {dead_letters} \
                     (projection, position, transaction_id, event_id, stream_id, stream_version, event_type, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (projection, event_id) DO UPDATE SET position = excluded.position, \
                     transaction_id = excluded.transaction_id, error = excluded.error, recorded_at = now()"
            ),
            dead_letters: format!(
                "SELECT projection, position, transaction_id, event_id, stream_id, stream_version, event_type, \
                     error, recorded_at FROM {dead_letters} WHERE projection = $1 ORDER BY transaction_id, position"
            ),
            schema,
        }
    }
}
