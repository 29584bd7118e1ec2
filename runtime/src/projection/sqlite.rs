//! Read models in an embedded SQLite file.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{Connection, Executor, Row, Sqlite};
use uuid::Uuid;

use super::{
    checkpoint_from_sql, checkpoint_to_sql, dead_letter_from_sql, CheckpointRow, DeadLetter, ProjectionError,
    ReadConnection, ReadStore,
};
use crate::store::RecordedEvent;

/// How long a writer waits for another one before failing (and the runner retrying).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections of each of the two pools.
const MAX_CONNECTIONS: u32 = 4;

const MIGRATE: &str = r#"
CREATE TABLE IF NOT EXISTS chronicle_checkpoints (
    projection TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    transaction_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE IF NOT EXISTS chronicle_dead_letters (
    projection TEXT NOT NULL,
    position INTEGER NOT NULL,
    transaction_id INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    error TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (projection, event_id)
) STRICT;

CREATE TABLE IF NOT EXISTS chronicle_leases (
    projection TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
"#;

const LOAD_CHECKPOINT: &str =
    "SELECT version, transaction_id, position FROM chronicle_checkpoints WHERE projection = ?1";

const INSERT_CHECKPOINT: &str =
    "INSERT INTO chronicle_checkpoints (projection, version, transaction_id, position) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (projection) DO NOTHING";

const UPDATE_CHECKPOINT: &str =
    "UPDATE chronicle_checkpoints SET version = ?2, transaction_id = ?3, position = ?4, \
     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
     WHERE projection = ?1 AND version = ?5 AND transaction_id = ?6 AND position = ?7";

const DEAD_LETTER: &str = "INSERT INTO chronicle_dead_letters \
     (projection, position, transaction_id, event_id, stream_id, stream_version, event_type, error) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
     ON CONFLICT (projection, event_id) DO UPDATE SET position = excluded.position, \
     transaction_id = excluded.transaction_id, error = excluded.error, \
     recorded_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

const DEAD_LETTERS: &str =
    "SELECT projection, position, transaction_id, event_id, stream_id, stream_version, \
     event_type, error, recorded_at FROM chronicle_dead_letters WHERE projection = ?1 \
     ORDER BY transaction_id, position";

/// Takes the lease if it is free, expired, or already ours.
const TAKE_LEASE: &str = "INSERT INTO chronicle_leases (projection, owner, expires_at) VALUES (?1, ?2, ?3) \
     ON CONFLICT (projection) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
     WHERE chronicle_leases.owner = excluded.owner OR chronicle_leases.expires_at <= ?4";

const RENEW_LEASE: &str = "UPDATE chronicle_leases SET expires_at = ?3 WHERE projection = ?1 AND owner = ?2";

const RELEASE_LEASE: &str = "DELETE FROM chronicle_leases WHERE projection = ?1 AND owner = ?2";

/// Read models in a SQLite database file, for applications on one machine (the events may still
/// come from Postgres).
///
/// Chronicle's tables are `chronicle_checkpoints`, `chronicle_dead_letters` and
/// `chronicle_leases`; create them with [`migrate`](Self::migrate). The read models' own tables
/// are the application's.
///
/// Runners write in `BEGIN IMMEDIATE` transactions. Queries run on a second pool whose
/// connections have `PRAGMA query_only` set, so a query cannot write by mistake.
///
/// **One active runner per projection**: a runner leads while it holds a lease row in
/// `chronicle_leases`, renewed as it works and taken over by a standby runner once it expires
/// (the lease duration is [`ProjectionRunner::lease`](super::ProjectionRunner::lease)). Should two
/// runners overlap, the fenced checkpoint update still lets only one of them commit a batch.
///
/// Cloning is cheap: clones share the pools.
#[derive(Clone, Debug)]
pub struct SqliteReadStore {
    pool: SqlitePool,
    reader: SqlitePool,
}

impl SqliteReadStore {
    /// Opens the database file at `path`, creating it if missing, in WAL mode.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, ProjectionError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(ProjectionError::ReadStore)?;
        Ok(Self::from_pool(pool))
    }

    /// A read store on an existing pool of a database file (not `:memory:`, whose every
    /// connection sees a database of its own). Give its connections a busy timeout. The query
    /// pool is opened with the same options plus `PRAGMA query_only`.
    pub fn from_pool(pool: SqlitePool) -> Self {
        let options = (*pool.connect_options()).clone().pragma("query_only", "ON");
        let reader = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_lazy_with(options);
        Self { pool, reader }
    }

    /// The read-write connection pool, for the application's own statements (creating read-model
    /// tables, say).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates Chronicle's tables if missing. Safe to run at every start.
    pub async fn migrate(&self) -> Result<(), ProjectionError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(ProjectionError::ReadStore)?;
        (&mut *tx)
            .execute(MIGRATE)
            .await
            .map_err(ProjectionError::ReadStore)?;
        tx.commit().await.map_err(ProjectionError::ReadStore)
    }
}

fn millis_from_now(duration: Duration) -> i64 {
    let now = Utc::now().timestamp_millis();
    now.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

impl ReadStore for SqliteReadStore {
    type Connection = SqliteConnection;
    type Database = Sqlite;

    async fn migrate(&self) -> Result<(), ProjectionError> {
        SqliteReadStore::migrate(self).await
    }

    async fn connect(&self) -> Result<SqliteConnection, ProjectionError> {
        Ok(self
            .pool
            .acquire()
            .await
            .map_err(ProjectionError::ReadStore)?
            .detach())
    }

    async fn begin(
        connection: &mut SqliteConnection,
    ) -> Result<sqlx::Transaction<'_, Sqlite>, ProjectionError> {
        // The write lock from the start: two writers that both read first would otherwise
        // deadlock on the upgrade.
        connection
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(ProjectionError::ReadStore)
    }

    async fn begin_read_only(&self) -> Result<sqlx::Transaction<'static, Sqlite>, ProjectionError> {
        self.reader.begin().await.map_err(ProjectionError::ReadStore)
    }

    async fn try_lead<'a>(
        &'a self,
        connection: &'a mut SqliteConnection,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> Result<bool, ProjectionError> {
        let done = sqlx::query(TAKE_LEASE)
            .bind(projection)
            .bind(owner.to_string())
            .bind(millis_from_now(lease))
            .bind(Utc::now().timestamp_millis())
            .execute(connection)
            .await
            .map_err(ProjectionError::ReadStore)?;
        Ok(done.rows_affected() == 1)
    }

    async fn keep_lead<'a>(
        &'a self,
        connection: &'a mut SqliteConnection,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> Result<bool, ProjectionError> {
        let done = sqlx::query(RENEW_LEASE)
            .bind(projection)
            .bind(owner.to_string())
            .bind(millis_from_now(lease))
            .execute(connection)
            .await
            .map_err(ProjectionError::ReadStore)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lead<'a>(
        &'a self,
        connection: &'a mut SqliteConnection,
        projection: &'a str,
        owner: Uuid,
    ) -> Result<(), ProjectionError> {
        sqlx::query(RELEASE_LEASE)
            .bind(projection)
            .bind(owner.to_string())
            .execute(connection)
            .await
            .map(drop)
            .map_err(ProjectionError::ReadStore)
    }

    async fn load_checkpoint<'a>(
        &'a self,
        connection: &'a mut SqliteConnection,
        projection: &'a str,
    ) -> Result<Option<CheckpointRow>, ProjectionError> {
        let row = sqlx::query(LOAD_CHECKPOINT)
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
        let row = sqlx::query(LOAD_CHECKPOINT)
            .bind(projection)
            .fetch_optional(&self.reader)
            .await
            .map_err(ProjectionError::ReadStore)?;
        checkpoint_row(projection, row)
    }

    async fn save_checkpoint<'a>(
        &'a self,
        connection: &'a mut SqliteConnection,
        projection: &'a str,
        previous: Option<CheckpointRow>,
        next: CheckpointRow,
    ) -> Result<bool, ProjectionError> {
        let (transaction_id, position) = checkpoint_to_sql(next.checkpoint)?;
        let query = match previous {
            None => sqlx::query(INSERT_CHECKPOINT)
                .bind(projection)
                .bind(i64::from(next.version))
                .bind(transaction_id)
                .bind(position),
            Some(previous) => {
                let (old_transaction_id, old_position) = checkpoint_to_sql(previous.checkpoint)?;
                sqlx::query(UPDATE_CHECKPOINT)
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
        connection: &'a mut SqliteConnection,
        projection: &'a str,
        event: &'a RecordedEvent,
        error: &'a str,
    ) -> Result<(), ProjectionError> {
        let (transaction_id, position) = checkpoint_to_sql(crate::Checkpoint::of(event))?;
        let stream_version = crate::store::sql::clamp_i64(event.stream_version);
        sqlx::query(DEAD_LETTER)
            .bind(projection)
            .bind(position)
            .bind(transaction_id)
            .bind(event.event_id.to_string())
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
        let rows = sqlx::query(DEAD_LETTERS)
            .bind(projection)
            .fetch_all(&self.reader)
            .await
            .map_err(ProjectionError::ReadStore)?;
        rows.iter().map(dead_letter_row).collect()
    }
}

impl ReadConnection for SqliteConnection {
    type Store = SqliteReadStore;
}

fn checkpoint_row(
    projection: &str,
    row: Option<SqliteRow>,
) -> Result<Option<CheckpointRow>, ProjectionError> {
    let Some(row) = row else { return Ok(None) };
    let version: i64 = row.try_get(0).map_err(ProjectionError::ReadStore)?;
    let transaction_id: i64 = row.try_get(1).map_err(ProjectionError::ReadStore)?;
    let position: i64 = row.try_get(2).map_err(ProjectionError::ReadStore)?;
    checkpoint_from_sql(projection, version, transaction_id, position).map(Some)
}

fn dead_letter_row(row: &SqliteRow) -> Result<DeadLetter, ProjectionError> {
    let get = ProjectionError::ReadStore;
    let event_id: String = row.try_get(3).map_err(get)?;
    let event_id = Uuid::parse_str(&event_id).map_err(|_| ProjectionError::Corrupt {
        table: "chronicle_dead_letters",
        detail: format!("column `event_id` holds malformed `{event_id}`"),
    })?;
    let recorded_at: DateTime<Utc> = row.try_get(8).map_err(get)?;
    dead_letter_from_sql(
        row.try_get(0).map_err(get)?,
        row.try_get(1).map_err(get)?,
        row.try_get(2).map_err(get)?,
        event_id,
        row.try_get(4).map_err(get)?,
        row.try_get(5).map_err(get)?,
        row.try_get(6).map_err(get)?,
        row.try_get(7).map_err(get)?,
        recorded_at,
    )
}
