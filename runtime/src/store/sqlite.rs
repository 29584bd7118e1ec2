//! The SQLite event store: an embedded store in a local file, for single-process applications,
//! command-line tools and tests.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Executor, Row, Sqlite, Transaction};
use tracing::Instrument;
use uuid::Uuid;

use super::sql::{self, corrupt, CorruptRow, EventRow};
use super::{EventStore, NewEvent, RecordedEvent, Snapshot};
use crate::command::Receipt;
use crate::error::StoreError;
use crate::subscription::{self, AppendListener, Batch, Checkpoint, EventSource, Head};

/// How long a writer waits for another one before giving up with [`StoreError::Unavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections of a file store: writers take turns anyway, but in WAL mode readers need not wait
/// for them.
const MAX_CONNECTIONS: u32 = 4;

/// Rows per `INSERT` statement; bounds the number of bound parameters well below SQLite's limit.
/// A larger command is split over several statements of the same transaction.
const ROWS_PER_INSERT: usize = 1000;

const MIGRATE: &str = r#"
CREATE TABLE IF NOT EXISTS chronicle_events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id TEXT NOT NULL,
    stream_version INTEGER NOT NULL CHECK (stream_version > 0),
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    event_version INTEGER NOT NULL,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    command_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (stream_id, stream_version)
) STRICT;

CREATE INDEX IF NOT EXISTS chronicle_events_command_id_idx ON chronicle_events (command_id);
CREATE INDEX IF NOT EXISTS chronicle_events_correlation_id_idx
    ON chronicle_events (json_extract(metadata, '$.correlation_id'));

CREATE TABLE IF NOT EXISTS chronicle_snapshots (
    stream_id TEXT PRIMARY KEY,
    aggregate_type TEXT NOT NULL,
    snapshot_version INTEGER NOT NULL,
    stream_version INTEGER NOT NULL CHECK (stream_version > 0),
    state TEXT NOT NULL,
    taken_at TEXT NOT NULL
) STRICT;

CREATE TRIGGER IF NOT EXISTS chronicle_events_no_update BEFORE UPDATE ON chronicle_events
BEGIN
    SELECT RAISE(ABORT, 'chronicle_events is append-only: UPDATE is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS chronicle_events_no_delete BEFORE DELETE ON chronicle_events
BEGIN
    SELECT RAISE(ABORT, 'chronicle_events is append-only: DELETE is not allowed');
END;
"#;

const CURRENT_VERSION: &str =
    "SELECT COALESCE(MAX(stream_version), 0) FROM chronicle_events WHERE stream_id = ?1";

const READ_STREAM: &str = "SELECT position, stream_id, stream_version, event_id, event_type, event_version, \
     payload, metadata, recorded_at FROM chronicle_events \
     WHERE stream_id = ?1 AND stream_version > ?2 ORDER BY stream_version";

const READ_ALL: &str = "SELECT position, stream_id, stream_version, event_id, event_type, event_version, \
     payload, metadata, recorded_at FROM chronicle_events \
     WHERE position > ?1 ORDER BY position LIMIT ?2";

const FIND_COMMAND: &str = "SELECT stream_id, stream_version, position FROM chronicle_events \
     WHERE command_id = ?1 ORDER BY position DESC LIMIT 1";

/// Events after a position, of the types in a JSON array (all when it is empty), with the highest
/// position stored at the time of the read: one statement, so both come from one snapshot. The
/// outer join yields one row of NULL events when there is none.
const READ_BATCH: &str = "SELECT h.head, e.* FROM \
     (SELECT COALESCE(MAX(position), 0) AS head FROM chronicle_events) AS h \
     LEFT JOIN (SELECT position, stream_id, stream_version, event_id, event_type, event_version, \
         payload, metadata, recorded_at FROM chronicle_events \
         WHERE position > ?1 \
           AND (json_array_length(?2) = 0 OR event_type IN (SELECT value FROM json_each(?2))) \
         ORDER BY position LIMIT ?3) AS e ON 1 \
     ORDER BY e.position";

const HEAD: &str = "SELECT position, recorded_at FROM chronicle_events ORDER BY position DESC LIMIT 1";

const COUNT_AFTER: &str = "SELECT COUNT(*) FROM chronicle_events WHERE position > ?1 \
     AND (json_array_length(?2) = 0 OR event_type IN (SELECT value FROM json_each(?2)))";

const CHECKPOINT_OF: &str = "SELECT position FROM chronicle_events WHERE position = ?1";

const READ_BY_CORRELATION: &str = "SELECT position, stream_id, stream_version, event_id, event_type, \
     event_version, payload, metadata, recorded_at FROM chronicle_events \
     WHERE json_extract(metadata, '$.correlation_id') = ?1 ORDER BY position";

const READ_SNAPSHOT: &str = "SELECT stream_id, aggregate_type, snapshot_version, stream_version, state, \
     taken_at FROM chronicle_snapshots WHERE stream_id = ?1";

/// The newest per stream: a snapshot further along is kept, whatever its shape, so a late write
/// never replaces a newer one.
const WRITE_SNAPSHOT: &str = "INSERT INTO chronicle_snapshots AS s \
     (stream_id, aggregate_type, snapshot_version, stream_version, state, taken_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (stream_id) DO UPDATE SET aggregate_type = excluded.aggregate_type, \
         snapshot_version = excluded.snapshot_version, stream_version = excluded.stream_version, \
         state = excluded.state, taken_at = excluded.taken_at \
     WHERE s.stream_version <= excluded.stream_version";

/// An event store in a SQLite database file.
///
/// All events live in one append-only table, `chronicle_events`; create it with
/// [`migrate`](Self::migrate). Its columns:
///
/// | column | type | meaning |
/// | --- | --- | --- |
/// | `position` | `INTEGER PRIMARY KEY AUTOINCREMENT` | place in the global log; increasing, never reused |
/// | `stream_id` | `TEXT` | the aggregate instance the event belongs to |
/// | `stream_version` | `INTEGER` | the event's version within its stream, from 1, without gaps; unique per stream |
/// | `event_id` | `TEXT` (hyphenated UUID), unique | the event's id; a re-submitted command collides |
/// | `event_type` | `TEXT` | the event's stored name |
/// | `event_version` | `INTEGER` | the version of the payload's shape |
/// | `payload` | `TEXT` (JSON) | the event itself, byte for byte as serialized |
/// | `metadata` | `TEXT` (JSON) | [`Metadata`](crate::Metadata) |
/// | `command_id` | `TEXT` (hyphenated UUID), indexed | the command that recorded the event |
/// | `recorded_at` | `TEXT` | when the event was stored, RFC 3339 in UTC with fractional seconds |
///
/// Triggers make the database refuse `UPDATE` and `DELETE` on the table ("chronicle_events is
/// append-only"). An index on `json_extract(metadata, '$.correlation_id')` serves
/// [`read_by_correlation`](EventStore::read_by_correlation).
///
/// Snapshots of aggregates declared with `#[aggregate(snapshot_every = N)]` live in
/// `chronicle_snapshots(stream_id, aggregate_type, snapshot_version, stream_version, state,
/// taken_at)`, one row per stream (the newest), with the state as JSON text; like the
/// [Postgres store's](crate::PostgresStore), they are disposable.
///
/// Appends take SQLite's write lock up front (`BEGIN IMMEDIATE`), so concurrent writers, in this
/// process or another, queue for up to 5 seconds instead of failing; past that the append fails
/// with [`StoreError::Unavailable`].
///
/// # Subscriptions
///
/// Writers take turns, so positions commit in order: as an [`EventSource`] the store reads by
/// position and every transaction id is 0. [`listen`](EventSource::listen) is an in-process
/// signal, raised by appends through this store and its clones only: appends by another
/// process, by another `SqliteStore` on the same file or by SQL of your own reach subscribers
/// when they poll, after their wait times out.
///
/// Cloning is cheap: clones share the connection pool and the append signal.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Bumped after every append, for [`listen`](EventSource::listen).
    appended: Arc<tokio::sync::watch::Sender<u64>>,
}

impl SqliteStore {
    /// Opens the database file at `path`, creating it if missing, in WAL mode.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(map_sqlx)?;
        Ok(Self::from_pool(pool))
    }

    /// A fresh database in memory, private to this store and its clones and gone when the last of
    /// them is dropped.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options: SqliteConnectOptions = "sqlite::memory:".parse().map_err(map_sqlx)?;
        // The database lives only as long as a connection to it: keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.busy_timeout(BUSY_TIMEOUT))
            .await
            .map_err(map_sqlx)?;
        Ok(Self::from_pool(pool))
    }

    /// A store on an existing pool. Give its connections a busy timeout
    /// ([`SqliteConnectOptions::busy_timeout`]), or concurrent appends fail at once.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self {
            pool,
            appended: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }

    /// The connection pool, for queries of your own.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates the `chronicle_events` table, its indexes, its append-only triggers and the
    /// `chronicle_snapshots` table if they are missing. Safe to run at every start, from several
    /// processes at once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_immediate().await?;
        // Through `Executor` rather than `raw_sql(..).execute(..)`, whose lifetime bounds make the
        // future fail the `Send` check when spawned.
        (&mut *tx).execute(MIGRATE).await.map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)
    }

    /// A transaction holding the write lock from the start: a plain `BEGIN` would take it only
    /// at the first write, and two writers that both read first would deadlock on the upgrade.
    async fn begin_immediate(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_sqlx)
    }

    async fn append_batch(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: &[NewEvent],
    ) -> Result<Receipt, StoreError> {
        let conflict = || StoreError::Conflict {
            stream_id: stream_id.to_owned(),
            expected: expected_version,
        };
        // A version beyond INTEGER cannot be the stream's current one.
        let Ok(expected) = i64::try_from(expected_version) else {
            return Err(conflict());
        };
        let mut rows = Vec::with_capacity(events.len());
        for (event, n) in events.iter().zip(1_i64..) {
            rows.push(Insert {
                stream_version: expected.checked_add(n).ok_or_else(conflict)?,
                event_id: event.event_id.to_string(),
                event_type: event.event_type,
                event_version: i64::from(event.event_version),
                payload: event.payload.get(),
                metadata: sql::metadata_json(event)?,
            });
        }
        let command_id = events[0].metadata.command_id.to_string();
        let recorded_at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);

        let mut tx = self.begin_immediate().await?;
        let current: i64 = sqlx::query_scalar(CURRENT_VERSION)
            .bind(stream_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        if current != expected {
            // Dropping the transaction rolls it back.
            return Err(conflict());
        }

        let mut last: Option<(u64, u64)> = None;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let statement = insert_sql(chunk.len());
            let mut query = sqlx::query(&statement)
                .bind(stream_id)
                .bind(&command_id)
                .bind(&recorded_at);
            for row in chunk {
                query = query
                    .bind(row.stream_version)
                    .bind(&row.event_id)
                    .bind(row.event_type)
                    .bind(row.event_version)
                    .bind(row.payload)
                    .bind(&row.metadata);
            }
            let returned = match query.fetch_all(&mut *tx).await {
                Ok(returned) => returned,
                Err(e) => return Err(append_error(e, tx, &self.pool, events, conflict).await),
            };
            for row in &returned {
                let position = sql::to_u64("position", row.try_get(0).map_err(map_sqlx)?)?;
                let version = sql::to_u64("stream_version", row.try_get(1).map_err(map_sqlx)?)?;
                if last.is_none_or(|(v, _)| version > v) {
                    last = Some((version, position));
                }
            }
        }
        tx.commit().await.map_err(map_sqlx)?;
        self.appended.send_modify(|count| *count = count.wrapping_add(1));

        let (stream_version, position) = last.ok_or_else(conflict)?;
        tracing::debug!(stream_version, position, "appended");
        Ok(Receipt {
            stream_id: stream_id.to_owned(),
            stream_version,
            position: Some(position),
        })
    }
}

/// One event's own values for the `INSERT`, checked and serialized before the write lock is
/// taken.
struct Insert<'a> {
    stream_version: i64,
    event_id: String,
    event_type: &'a str,
    event_version: i64,
    payload: &'a str,
    metadata: String,
}

/// `INSERT` of `rows` events; `?1`..`?3` (stream, command, time) are shared by all rows.
fn insert_sql(rows: usize) -> String {
    let mut statement = String::with_capacity(200 + rows * 40);
    statement.push_str(
        "INSERT INTO chronicle_events (stream_id, command_id, recorded_at, stream_version, event_id, \
         event_type, event_version, payload, metadata) VALUES ",
    );
    for row in 0..rows {
        let p = 4 + row * 6;
        if row > 0 {
            statement.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(
            statement,
            "(?1, ?2, ?3, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
            p,
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        );
    }
    statement.push_str(" RETURNING position, stream_version");
    statement
}

impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        if events.is_empty() {
            return Ok(Receipt {
                stream_id: stream_id.to_owned(),
                stream_version: expected_version,
                position: None,
            });
        }
        let span = tracing::debug_span!(
            "chronicle.append",
            store = "sqlite",
            stream_id,
            expected_version,
            count = events.len()
        );
        self.append_batch(stream_id, expected_version, &events)
            .instrument(span)
            .await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(READ_STREAM)
            .bind(stream_id)
            .bind(sql::clamp_i64(after_version))
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(|row| recorded(row, 0)).collect()
    }

    async fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(READ_ALL)
            .bind(sql::clamp_i64(after_position))
            .bind(sql::clamp_i64(limit as u64))
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(|row| recorded(row, 0)).collect()
    }

    async fn read_by_correlation(&self, correlation_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(READ_BY_CORRELATION)
            .bind(correlation_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(|row| recorded(row, 0)).collect()
    }

    async fn read_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let Some(row) = sqlx::query(READ_SNAPSHOT)
            .bind(stream_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx)?
        else {
            return Ok(None);
        };
        let snapshot_version: i64 = row.try_get(2).map_err(map_sqlx)?;
        let state: String = row.try_get(4).map_err(map_sqlx)?;
        Ok(Some(Snapshot {
            stream_id: row.try_get(0).map_err(map_sqlx)?,
            aggregate_type: row.try_get(1).map_err(map_sqlx)?,
            snapshot_version: u32::try_from(snapshot_version)
                .map_err(|_| corrupt(CorruptRow::OutOfRange("snapshot_version", snapshot_version)))?,
            stream_version: sql::to_u64("stream_version", row.try_get(3).map_err(map_sqlx)?)?,
            state: serde_json::value::RawValue::from_string(state.clone())
                .map_err(|_| corrupt(CorruptRow::Malformed("state", state)))?,
            taken_at: parse_time("taken_at", row.try_get(5).map_err(map_sqlx)?)?,
        }))
    }

    async fn write_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        sqlx::query(WRITE_SNAPSHOT)
            .bind(&snapshot.stream_id)
            .bind(&snapshot.aggregate_type)
            .bind(i64::from(snapshot.snapshot_version))
            .bind(sql::clamp_i64(snapshot.stream_version))
            .bind(snapshot.state.get())
            .bind(snapshot.taken_at.to_rfc3339_opts(SecondsFormat::Micros, true))
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(map_sqlx)
    }

    async fn find_command(&self, command_id: Uuid) -> Result<Option<Receipt>, StoreError> {
        let Some(row) = sqlx::query(FIND_COMMAND)
            .bind(command_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx)?
        else {
            return Ok(None);
        };
        Ok(Some(Receipt {
            stream_id: row.try_get(0).map_err(map_sqlx)?,
            stream_version: sql::to_u64("stream_version", row.try_get(1).map_err(map_sqlx)?)?,
            position: Some(sql::to_u64("position", row.try_get(2).map_err(map_sqlx)?)?),
        }))
    }
}

impl EventSource for SqliteStore {
    async fn read_batch(
        &self,
        after: Checkpoint,
        event_types: &[&str],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        if limit == 0 {
            return Ok(Batch {
                events: Vec::new(),
                horizon: after,
            });
        }
        let rows = sqlx::query(READ_BATCH)
            .bind(sql::clamp_i64(subscription::serial_position(after)))
            .bind(types_json(event_types)?)
            .bind(sql::clamp_i64(limit as u64))
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?;
        // Every row carries the head; with no event there is still one row, of NULLs.
        let mut head = None;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            head = Some(row.try_get::<i64, _>(0).map_err(map_sqlx)?);
            if row.try_get::<Option<i64>, _>(1).map_err(map_sqlx)?.is_some() {
                events.push(recorded(row, 1)?);
            }
        }
        let head = head.ok_or_else(|| map_sqlx(sqlx::Error::RowNotFound))?;
        let caught_up = Checkpoint {
            transaction_id: 0,
            position: sql::to_u64("position", head)?,
        };
        Ok(subscription::batch(after, events, limit, caught_up))
    }

    async fn head(&self) -> Result<Head, StoreError> {
        let row = sqlx::query(HEAD)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx)?;
        let Some(row) = row else {
            return Ok(Head {
                checkpoint: Checkpoint::START,
                position: None,
                recorded_at: None,
            });
        };
        let position = sql::to_u64("position", row.try_get(0).map_err(map_sqlx)?)?;
        let recorded_at: String = row.try_get(1).map_err(map_sqlx)?;
        Ok(Head {
            checkpoint: Checkpoint {
                transaction_id: 0,
                position,
            },
            position: Some(position),
            recorded_at: Some(parse_recorded_at(recorded_at)?),
        })
    }

    async fn count_after(&self, after: Checkpoint, event_types: &[&str]) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(COUNT_AFTER)
            .bind(sql::clamp_i64(subscription::serial_position(after)))
            .bind(types_json(event_types)?)
            .fetch_one(&self.pool)
            .await
            .map_err(map_sqlx)?;
        sql::to_u64("count", count)
    }

    async fn checkpoint_of(&self, position: u64) -> Result<Option<Checkpoint>, StoreError> {
        let Ok(position_i64) = i64::try_from(position) else {
            return Ok(None);
        };
        let found: Option<i64> = sqlx::query_scalar(CHECKPOINT_OF)
            .bind(position_i64)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx)?;
        Ok(found.map(|_| Checkpoint {
            transaction_id: 0,
            position,
        }))
    }

    /// An in-process signal: see [`SqliteStore`] for which appends raise it.
    async fn listen(&self) -> Result<AppendListener, StoreError> {
        Ok(AppendListener::local(self.appended.subscribe()))
    }
}

/// A type filter as a JSON array, for `json_each`.
fn types_json(event_types: &[&str]) -> Result<String, StoreError> {
    serde_json::to_string(event_types).map_err(|e| StoreError::Database(Box::new(e)))
}

/// The event in the row's columns from `at` on, in the order of `READ_ALL`'s.
fn recorded(row: &SqliteRow, at: usize) -> Result<RecordedEvent, StoreError> {
    let event_id: String = row.try_get(at + 3).map_err(map_sqlx)?;
    EventRow {
        position: row.try_get(at).map_err(map_sqlx)?,
        transaction_id: 0,
        stream_id: row.try_get(at + 1).map_err(map_sqlx)?,
        stream_version: row.try_get(at + 2).map_err(map_sqlx)?,
        event_id: Uuid::parse_str(&event_id)
            .map_err(|_| corrupt(CorruptRow::Malformed("event_id", event_id.clone())))?,
        event_type: row.try_get(at + 4).map_err(map_sqlx)?,
        event_version: row.try_get(at + 5).map_err(map_sqlx)?,
        payload: row.try_get(at + 6).map_err(map_sqlx)?,
        metadata: row.try_get(at + 7).map_err(map_sqlx)?,
        recorded_at: parse_recorded_at(row.try_get(at + 8).map_err(map_sqlx)?)?,
    }
    .into_recorded()
}

fn parse_recorded_at(recorded_at: String) -> Result<DateTime<Utc>, StoreError> {
    parse_time("recorded_at", recorded_at)
}

fn parse_time(column: &'static str, value: String) -> Result<DateTime<Utc>, StoreError> {
    match DateTime::parse_from_rfc3339(&value) {
        Ok(at) => Ok(at.with_timezone(&Utc)),
        Err(_) => Err(corrupt(CorruptRow::Malformed(column, value))),
    }
}

/// Tells the two unique constraints apart (SQLite names the columns in its message): a stream
/// version already taken means another writer won; an event id already taken means the command
/// was appended before.
async fn append_error(
    e: sqlx::Error,
    tx: Transaction<'static, Sqlite>,
    pool: &SqlitePool,
    events: &[NewEvent],
    conflict: impl FnOnce() -> StoreError,
) -> StoreError {
    let message = match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => db.message().to_owned(),
        _ => return map_sqlx(e),
    };
    if message.contains("chronicle_events.stream_version") {
        return conflict();
    }
    if !message.contains("chronicle_events.event_id") {
        return map_sqlx(e);
    }
    // SQLite does not say which id collided. Ask after rolling back, or the batch's own rows
    // from earlier statements would answer.
    drop(tx);
    let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let stored: Vec<String> = match serde_json::to_string(&ids) {
        Ok(ids) => sqlx::query_scalar(
            "SELECT event_id FROM chronicle_events WHERE event_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(ids)
        .fetch_all(pool)
        .await
        .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let event_id = events
        .iter()
        .zip(&ids)
        .find(|(_, id)| stored.contains(id))
        .map_or_else(|| sql::guess_duplicate(events), |(e, _)| e.event_id);
    StoreError::DuplicateEvent { event_id }
}

/// Sorts a driver error into [`StoreError::Unavailable`] or [`StoreError::Database`].
fn map_sqlx(e: sqlx::Error) -> StoreError {
    sql::map_sqlx_with(e, |db| {
        // SQLite reports extended result codes; the primary code is the low byte. BUSY (5) is
        // the busy timeout running out, CANTOPEN (14) a file that cannot be opened.
        db.code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 14))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statement_numbers_parameters() {
        assert_eq!(
            insert_sql(2),
            "INSERT INTO chronicle_events (stream_id, command_id, recorded_at, stream_version, event_id, \
             event_type, event_version, payload, metadata) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9), (?1, ?2, ?3, ?10, ?11, ?12, ?13, ?14, ?15) \
             RETURNING position, stream_version"
        );
    }
}
