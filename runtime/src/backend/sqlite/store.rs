//! The SQLite event store: an embedded store in a local file, for single-process applications,
//! command-line tools and tests. Its subscription side is in `source.rs`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Executor as _, Row as _, Sqlite, Transaction};
use uuid::Uuid;

use super::errors::{is_unique_violation, store_error};
use super::pool::{open_file, BUSY_TIMEOUT};
use crate::backend::sql::rows::{guess_duplicate, metadata_json, to_u64};
use crate::backend::sql::section;
use crate::core::error::StoreError;
use crate::core::store::{NewEvent, Receipt};
use crate::core::tenant::Tenant;

/// Rows per `INSERT` statement; bounds the number of bound parameters well below SQLite's limit.
/// A larger command is split over several statements of the same transaction.
const ROWS_PER_INSERT: usize = 1000;

const MIGRATE_SQL: &str = include_str!("sql/migrate.sql");
const EVENTS_SQL: &str = include_str!("sql/events.sql");

/// The columns of an event, in the names the store reads them by.
const EVENT_COLUMNS: &str =
    "position, tenant, stream_id, stream_version, event_id, event_type, event_version, \
     payload, metadata, recorded_at";

/// An event store in a SQLite database file.
///
/// All events live in one append-only table, `chronicle_events`; create it with
/// [`migrate`](Self::migrate). Its columns:
///
/// | column | type | meaning |
/// | --- | --- | --- |
/// | `position` | `INTEGER PRIMARY KEY AUTOINCREMENT` | place in the global log; increasing, never reused |
/// | `tenant` | `TEXT`, default `''` | the [`Tenant`] whose stream it is (`''`: none); indexed with `position` |
/// | `stream_id` | `TEXT` | the aggregate instance the event belongs to: `"{aggregate}-{id}"` |
/// | `stream_version` | `INTEGER` | the event's version within its stream, from 1, without gaps; unique per tenant and stream |
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
/// [`read_by_correlation`](crate::EventStore::read_by_correlation).
///
/// Snapshots of aggregates declared with `#[aggregate(snapshot_every = N)]` live in
/// `chronicle_snapshots(tenant, stream_id, aggregate_type, snapshot_version, stream_version, state,
/// taken_at)`, one row per tenant's stream (the newest), with the state as JSON text; like the
/// [Postgres store's](crate::PostgresStore), they are disposable.
///
/// Appends take SQLite's write lock up front (`BEGIN IMMEDIATE`), so concurrent writers, in this
/// process or another, queue for up to 5 seconds instead of failing; past that the append fails
/// with [`StoreError::Unavailable`].
///
/// # Subscriptions
///
/// Writers take turns, so positions commit in order: as an [`EventSource`](crate::EventSource)
/// the store reads by position and every transaction id is 0.
/// [`listen`](crate::EventSource::listen) is an in-process signal, raised by appends through this
/// store and its clones only: appends by another process, by another `SqliteStore` on the same
/// file or by SQL of your own reach subscribers when they poll, after their wait times out.
///
/// Cloning is cheap: clones share the connection pool and the append signal, and so do the
/// store's [`for_tenant`](crate::EventStore::for_tenant) bindings.
#[derive(Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    pub(super) tenant: Tenant,
    /// Bumped after every append, for [`listen`](crate::EventSource::listen).
    pub(super) appended: Arc<tokio::sync::watch::Sender<u64>>,
    pub(super) sql: Arc<Statements>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("pool", &self.pool)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

/// The store's SQL from `events.sql`, with the event columns filled in.
pub(super) struct Statements {
    has_tenants: String,
    upgrade_tenants: String,
    current_version: String,
    stored_event_ids: String,
    pub(super) read_stream: String,
    pub(super) read_stream_payloads: String,
    pub(super) read_all: String,
    pub(super) find_command: String,
    pub(super) read_by_correlation: String,
    pub(super) list_streams: String,
    pub(super) read_batch: String,
    pub(super) head: String,
    pub(super) progress: String,
    pub(super) any_between: String,
    pub(super) checkpoint_of: String,
    pub(super) read_snapshot: String,
    pub(super) write_snapshot: String,
}

impl Statements {
    fn new() -> Self {
        let statement = |name| section(EVENTS_SQL, name).replace("{event}", EVENT_COLUMNS);
        Self {
            has_tenants: statement("has_tenants"),
            upgrade_tenants: statement("upgrade_tenants"),
            current_version: statement("current_version"),
            stored_event_ids: statement("stored_event_ids"),
            read_stream: statement("read_stream"),
            read_stream_payloads: statement("read_stream_payloads"),
            read_all: statement("read_all"),
            find_command: statement("find_command"),
            read_by_correlation: statement("read_by_correlation"),
            list_streams: statement("list_streams"),
            read_batch: statement("read_batch"),
            head: statement("head"),
            progress: statement("progress"),
            any_between: statement("any_between"),
            checkpoint_of: statement("checkpoint_of"),
            read_snapshot: statement("read_snapshot"),
            write_snapshot: statement("write_snapshot"),
        }
    }
}

impl SqliteStore {
    /// Opens the database file at `path`, creating it if missing, in WAL mode.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(Self::from_pool(open_file(path).await.map_err(store_error)?))
    }

    /// A fresh database in memory, private to this store and its clones and gone when the last of
    /// them is dropped.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options: SqliteConnectOptions = "sqlite::memory:".parse().map_err(store_error)?;
        // The database lives only as long as a connection to it: keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.busy_timeout(BUSY_TIMEOUT))
            .await
            .map_err(store_error)?;
        Ok(Self::from_pool(pool))
    }

    /// A store on an existing pool. Give its connections a busy timeout
    /// ([`SqliteConnectOptions::busy_timeout`]), or concurrent appends fail at once.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self {
            pool,
            tenant: Tenant::none(),
            appended: Arc::new(tokio::sync::watch::channel(0).0),
            sql: Arc::new(Statements::new()),
        }
    }

    /// The connection pool, for queries of your own.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates the `chronicle_events` table, its indexes, its append-only triggers and the
    /// `chronicle_snapshots` table if they are missing, and upgrades those of an earlier version
    /// in place (a table without tenants is copied into the new layout, its rows of no tenant).
    /// Safe to run at every start, from several processes at once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_immediate().await?;
        let has_tenants: bool = sqlx::query(&self.sql.has_tenants)
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get("found"))
            .map_err(store_error)?;
        if !has_tenants {
            (&mut *tx)
                .execute(self.sql.upgrade_tenants.as_str())
                .await
                .map_err(store_error)?;
        }
        // Through `Executor` rather than `raw_sql(..).execute(..)`, whose lifetime bounds make the
        // future fail the `Send` check when spawned.
        (&mut *tx)
            .execute(Self::migration_sql().as_str())
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    /// The SQL [`migrate`](Self::migrate) runs (idempotent DDL, for review): the event log's
    /// tables, then the key table of `#[pii]` fields.
    pub fn migration_sql() -> String {
        format!("{MIGRATE_SQL}\n{}", super::keys::MIGRATE_SQL)
    }

    /// A transaction holding the write lock from the start: a plain `BEGIN` would take it only
    /// at the first write, and two writers that both read first would deadlock on the upgrade.
    async fn begin_immediate(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(store_error)
    }

    pub(super) async fn append_batch(
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
                metadata: metadata_json(event)?,
            });
        }
        let command_id = events[0].metadata.command_id.to_string();
        let recorded_at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);

        let mut tx = self.begin_immediate().await?;
        let current: i64 = sqlx::query(&self.sql.current_version)
            .bind(stream_id)
            .bind(self.tenant.as_str())
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get("version"))
            .map_err(store_error)?;
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
                .bind(&recorded_at)
                .bind(self.tenant.as_str());
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
                // The write lock is held and the stream's version was checked under it, so the
                // only unique key left to violate is the event id.
                Err(error) if is_unique_violation(&error) => {
                    drop(tx);
                    return Err(StoreError::DuplicateEvent {
                        event_id: self.stored_event_id(events).await,
                    });
                }
                Err(error) => return Err(store_error(error)),
            };
            for row in &returned {
                let number = |column| -> Result<u64, StoreError> {
                    to_u64(
                        "chronicle_events",
                        column,
                        row.try_get(column).map_err(store_error)?,
                    )
                };
                let (version, position) = (number("stream_version")?, number("position")?);
                if last.is_none_or(|(v, _)| version > v) {
                    last = Some((version, position));
                }
            }
        }
        tx.commit().await.map_err(store_error)?;
        self.appended.send_modify(|count| *count = count.wrapping_add(1));

        let (stream_version, position) = last.ok_or_else(conflict)?;
        tracing::debug!(stream_version, position, "appended");
        Ok(Receipt {
            tenant: self.tenant.as_str().to_owned(),
            stream_id: stream_id.to_owned(),
            stream_version,
            position: Some(position),
        })
    }

    /// The first of `events` whose id is stored already. Asked after rolling back, or the batch's
    /// own rows from earlier statements would answer.
    async fn stored_event_id(&self, events: &[NewEvent]) -> Uuid {
        let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
        let stored: Vec<String> = match serde_json::to_string(&ids) {
            Ok(ids) => sqlx::query(&self.sql.stored_event_ids)
                .bind(ids)
                .fetch_all(&self.pool)
                .await
                .map(|rows| {
                    rows.iter()
                        .filter_map(|row| row.try_get("event_id").ok())
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        events
            .iter()
            .zip(&ids)
            .find(|(_, id)| stored.contains(id))
            .map_or_else(|| guess_duplicate(events), |(e, _)| e.event_id)
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

/// `INSERT` of `rows` events; `?1`..`?4` (stream, command, time, tenant) are shared by all rows. Built
/// here rather than kept in `events.sql`: its number of rows varies.
fn insert_sql(rows: usize) -> String {
    let mut statement = String::with_capacity(200 + rows * 40);
    statement.push_str(
        "INSERT INTO chronicle_events (stream_id, command_id, recorded_at, tenant, stream_version, \
         event_id, event_type, event_version, payload, metadata) VALUES ",
    );
    for row in 0..rows {
        let p = 5 + row * 6;
        if row > 0 {
            statement.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(
            statement,
            "(?1, ?2, ?3, ?4, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statement_numbers_parameters() {
        assert_eq!(
            insert_sql(2),
            "INSERT INTO chronicle_events (stream_id, command_id, recorded_at, tenant, stream_version, \
             event_id, event_type, event_version, payload, metadata) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10), (?1, ?2, ?3, ?4, ?11, ?12, ?13, ?14, ?15, ?16) \
             RETURNING position, stream_version"
        );
    }

    #[test]
    fn every_statement_is_in_the_sql_file() {
        let sql = Statements::new();
        for statement in [
            &sql.has_tenants,
            &sql.upgrade_tenants,
            &sql.current_version,
            &sql.stored_event_ids,
            &sql.read_stream,
            &sql.read_stream_payloads,
            &sql.read_all,
            &sql.find_command,
            &sql.read_by_correlation,
            &sql.list_streams,
            &sql.read_batch,
            &sql.head,
            &sql.progress,
            &sql.any_between,
            &sql.checkpoint_of,
            &sql.read_snapshot,
            &sql.write_snapshot,
        ] {
            assert!(!statement.is_empty() && !statement.contains('{'), "{statement:?}");
        }
    }
}
