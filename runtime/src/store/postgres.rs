//! The Postgres event store: the production backend.

use std::fmt;
use std::sync::Arc;

use futures_util::TryStreamExt as _;
use sqlx::postgres::{PgArguments, PgDatabaseError, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;
use tracing::Instrument;
use uuid::Uuid;

use super::direct::DirectConnections;
use super::sql::{self, corrupt, CorruptRow, EventRow};
use super::wake_up::WakeUps;
use super::{EventStore, NewEvent, RecordedEvent, Snapshot};
use crate::command::Receipt;
use crate::error::StoreError;
use crate::subscription::{self, AppendListener, Batch, Checkpoint, EventSource, Head};

/// How many connections [`PostgresStore::connect`] opens at most.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The schema used unless [`PostgresStore::with_schema`] picks another.
const DEFAULT_SCHEMA: &str = "public";

/// Names of the unique constraints, fixed in the migration so that a violation can be told apart
/// without parsing messages.
const STREAM_VERSION_KEY: &str = "chronicle_events_stream_version_key";
const EVENT_ID_KEY: &str = "chronicle_events_event_id_key";

/// Set on the table as the last step of [`PostgresStore::migrate`]. Finding it means there is
/// nothing to do, which lets an application whose role may not run DDL (`CREATE ... IF NOT
/// EXISTS` checks privileges before existence) call `migrate` at every start. Change it whenever
/// the migration changes.
const SCHEMA_MARKER: &str = "Chronicle event log, append-only. Table layout 4.";

/// The most rows a batch read reserves room for up front.
const READ_BATCH_CAPACITY: usize = 10_000;

/// The longest name Postgres keeps for an identifier such as a notification channel.
const MAX_IDENTIFIER_LEN: usize = 63;

/// An event store in a Postgres database (version 13 or later).
///
/// All events live in one append-only table, `chronicle_events`, in a configurable schema
/// (`public` unless [`with_schema`](Self::with_schema) says otherwise). Create it with
/// [`migrate`](Self::migrate). Its columns:
///
/// | column | type | meaning |
/// | --- | --- | --- |
/// | `position` | `bigint` identity, primary key | place in the global log; increasing, may have gaps |
/// | `transaction_id` | `xid8`, default `pg_current_xact_id()` | the writing transaction; subscribers read in `(transaction_id, position)` order (see below) |
/// | `stream_id` | `text` | the aggregate instance the event belongs to |
/// | `stream_version` | `bigint` | the event's version within its stream, from 1, without gaps; unique per stream |
/// | `event_id` | `uuid`, unique | the event's id; derived from the command id, so a re-submitted command collides |
/// | `event_type` | `text` | the event's stored name |
/// | `event_version` | `int` | the version of the payload's shape |
/// | `payload` | `jsonb` | the event itself |
/// | `metadata` | `jsonb` | [`Metadata`](crate::Metadata): command, correlation and causation ids, actor, extra keys |
/// | `command_id` | `uuid`, indexed | the command that recorded the event (copied out of the metadata for lookups) |
/// | `recorded_at` | `timestamptz`, default `now()` | when the event was stored |
///
/// The database itself refuses `UPDATE`, `DELETE` and `TRUNCATE` on the table (triggers raise
/// "chronicle_events is append-only"): events are facts, corrected by further events.
///
/// The index `chronicle_events_correlation_id_idx` on `(metadata->>'correlation_id')` serves
/// [`read_by_correlation`](EventStore::read_by_correlation).
///
/// # Snapshots
///
/// Snapshots of aggregates declared with `#[aggregate(snapshot_every = N)]` live in a second
/// table, `chronicle_snapshots`, one row per stream (the newest):
///
/// | column | type | meaning |
/// | --- | --- | --- |
/// | `stream_id` | `text`, primary key | the aggregate instance |
/// | `aggregate_type` | `text` | the aggregate's name |
/// | `snapshot_version` | `int` | the version of the state's shape |
/// | `stream_version` | `bigint` | the last event the state includes |
/// | `state` | `jsonb` | the state |
/// | `taken_at` | `timestamptz` | when the snapshot was taken |
///
/// Unlike events, snapshots are disposable: the table may be emptied at any time, and loading
/// then replays streams from their first event.
///
/// # Subscriptions
///
/// As an [`EventSource`], the store delivers an event only once every transaction older than its
/// writer has ended: it reads rows whose `transaction_id` is below `pg_snapshot_xmin` of the
/// read's snapshot, in `(transaction_id, position)` order (the index
/// `chronicle_events_transaction_id_idx`). An event whose position was taken before a slower
/// writer's but committed after it is therefore never skipped, whatever the commit order.
///
/// The price is latency: a transaction that stays open holds every subscriber back until it
/// ends, and that means any transaction holding a transaction id anywhere on the server (the
/// snapshot's `xmin` is cluster-wide: a long data migration in another database counts too, as
/// does a prepared transaction nobody committed). Keep write transactions short. Read-only
/// transactions do not count.
///
/// After appends the store sends a notification on the channel `chronicle_events_<schema>`
/// (the first append after a quiet moment at once, then at most one every 2 ms, shared by the
/// appends in between), from a connection of its own; [`listen`](EventSource::listen) waits for
/// it. Rows inserted around the store wake nobody: subscribers find them by polling.
///
/// # Connections
///
/// The store's own statements (appends, stream and subscription reads) run on up to as many
/// connections as the pool may open, which the store takes from the pool and then keeps itself
/// (detached, so the pool may open others): sqlx's pool tests each connection with a round trip
/// whenever it is handed back, which would cost every command a second round trip. A connection
/// that fails, or whose session the server ended, is closed: the statement that found it so fails
/// with [`StoreError::Unavailable`], and the next one gets a new connection. One idle for the
/// pool's idle timeout (10 minutes by default) is not reused. The pool itself serves
/// [`pool`](Self::pool) users, inline projections and read stores built on it. At most twice the
/// pool's size is open at once.
///
/// Cloning is cheap: clones share the pool and the connections.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sql: Arc<Statements>,
    direct: Arc<DirectConnections>,
    wake_ups: Arc<WakeUps>,
}

/// The store's SQL, built once per schema so that no call formats SQL.
struct Statements {
    schema: String,
    /// The qualified table name, `"schema".chronicle_events`.
    table: String,
    migrate: String,
    append: String,
    append_one: String,
    read_stream: String,
    read_all: String,
    find_command: String,
    read_batch: String,
    head: String,
    count_after: String,
    checkpoint_of: String,
    read_by_correlation: String,
    read_snapshot: String,
    write_snapshot: String,
    /// The notification channel of the schema's appends.
    channel: String,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.sql.schema)
            .field("pool", &self.pool)
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) with a
    /// pool of up to 10 connections. Use [`from_pool`](Self::from_pool) to size the pool yourself.
    ///
    /// A refused connection is retried for up to 30 seconds, in case the server is still
    /// starting; then, or for any other network failure, this fails with
    /// [`StoreError::Unavailable`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // No ping before each checkout: it costs a round trip per call, and a connection the
        // server dropped fails its statement with `Unavailable` and is replaced by the pool.
        let pool = PgPoolOptions::new()
            .max_connections(DEFAULT_MAX_CONNECTIONS)
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(map_sqlx)?;
        Ok(Self::from_pool(pool))
    }

    /// A store on an existing pool, using the `public` schema.
    pub fn from_pool(pool: PgPool) -> Self {
        let sql = Statements::new(DEFAULT_SCHEMA.to_owned());
        Self {
            direct: Arc::new(DirectConnections::of_pool(&pool)),
            wake_ups: Arc::new(WakeUps::new(
                sql.channel.clone(),
                (*pool.connect_options()).clone(),
            )),
            sql: Arc::new(sql),
            pool,
        }
    }

    /// The same store, with its table in the Postgres schema `schema` (created by
    /// [`migrate`](Self::migrate) if missing).
    ///
    /// The name must match `[a-z_][a-z0-9_]*` and be at most 63 bytes; anything else is refused
    /// with [`StoreError::Database`] rather than quoted, so that the name in SQL is the name a
    /// person types in `psql`.
    pub fn with_schema(self, schema: &str) -> Result<Self, StoreError> {
        validate_schema(schema)?;
        let sql = Statements::new(schema.to_owned());
        Ok(Self {
            wake_ups: Arc::new(WakeUps::new(
                sql.channel.clone(),
                (*self.pool.connect_options()).clone(),
            )),
            sql: Arc::new(sql),
            direct: self.direct,
            pool: self.pool,
        })
    }

    /// The Postgres schema holding the store's table.
    pub fn schema(&self) -> &str {
        &self.sql.schema
    }

    /// The connection pool, for queries of your own (read models in the same database, say).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the schema, the `chronicle_events` table, its indexes, its append-only triggers,
    /// its notification trigger and the `chronicle_snapshots` table if they are missing; adds what
    /// is missing to a schema created by an earlier version (upgrading a large log builds the
    /// correlation index, which holds appends back until it is built).
    ///
    /// Safe to run at every start, from several processes at once: the work happens in one
    /// transaction holding an advisory lock per schema. Once the table is complete, this only
    /// reads the catalog, so a role without DDL rights may call it too.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let marker: Option<String> =
            sqlx::query_scalar("SELECT obj_description(to_regclass($1), 'pg_class')")
                .bind(&self.sql.table)
                .fetch_one(&self.pool)
                .await
                .map_err(map_sqlx)?;
        if marker.as_deref() == Some(SCHEMA_MARKER) {
            return Ok(());
        }
        sqlx::raw_sql(&self.sql.migrate)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(map_sqlx)
    }

    /// Appends one command's events: in `transaction` when given, else on one of the store's
    /// own connections.
    async fn append_batch(
        &self,
        transaction: Option<&mut sqlx::PgConnection>,
        stream_id: &str,
        expected_version: u64,
        events: &[NewEvent],
    ) -> Result<Vec<Appended>, StoreError> {
        let conflict = || StoreError::Conflict {
            stream_id: stream_id.to_owned(),
            expected: expected_version,
        };
        // A version beyond bigint cannot be the stream's current one.
        let Ok(expected) = i64::try_from(expected_version) else {
            return Err(conflict());
        };
        let mut columns = EventColumns::with_capacity(events.len());
        for event in events {
            columns.push(event)?;
        }
        let command_id = events[0].metadata.command_id;

        // Most commands record one event: scalars spare the arrays' encoding and the `UNNEST`.
        let query = match (
            &columns.event_ids[..],
            &columns.event_types[..],
            &columns.event_versions[..],
            &columns.payloads[..],
            &columns.metadata[..],
        ) {
            ([event_id], [event_type], [event_version], [payload], [metadata]) => {
                sqlx::query(&self.sql.append_one)
                    .bind(stream_id)
                    .bind(expected)
                    .bind(command_id)
                    .bind(event_id)
                    .bind(event_type)
                    .bind(event_version)
                    .bind(payload)
                    .bind(metadata)
            }
            _ => sqlx::query(&self.sql.append)
                .bind(stream_id)
                .bind(expected)
                .bind(command_id)
                .bind(&columns.event_ids)
                .bind(&columns.event_types)
                .bind(&columns.event_versions)
                .bind(&columns.payloads)
                .bind(&columns.metadata),
        };
        let outcome = match transaction {
            Some(connection) => query.fetch_all(connection).await,
            None => {
                let mut connection = self.direct.acquire().await?;
                let outcome = query.fetch_all(connection.get()).await;
                connection.settle(&outcome);
                outcome
            }
        };
        let rows = outcome.map_err(|e| append_error(e, events, conflict))?;

        // No rows: the guard saw the stream at another version than expected.
        if rows.is_empty() {
            return Err(conflict());
        }
        let mut appended = rows
            .iter()
            .map(|row| {
                Ok(Appended {
                    position: sql::to_u64("position", row.try_get(0).map_err(map_sqlx)?)?,
                    stream_version: sql::to_u64("stream_version", row.try_get(1).map_err(map_sqlx)?)?,
                    transaction_id: sql::to_u64("transaction_id", row.try_get(2).map_err(map_sqlx)?)?,
                    recorded_at: row.try_get(3).map_err(map_sqlx)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        appended.sort_by_key(|a| a.stream_version);
        Ok(appended)
    }

    /// Appends a command's events inside the caller's transaction and returns them as stored, so
    /// that work done in the same transaction (inline projections) sees exactly what was written.
    /// Same checks and errors as [`EventStore::append`]; nothing is visible until the caller
    /// commits.
    pub async fn append_in(
        &self,
        transaction: &mut sqlx::PgConnection,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let appended = self
            .append_batch(Some(transaction), stream_id, expected_version, &events)
            .await?;
        Ok(events
            .into_iter()
            .zip(appended)
            .map(|(event, stored)| RecordedEvent {
                position: stored.position,
                transaction_id: stored.transaction_id,
                stream_id: stream_id.to_owned(),
                stream_version: stored.stream_version,
                event_id: event.event_id,
                event_type: event.event_type.to_owned(),
                event_version: event.event_version,
                payload: event.payload,
                metadata: event.metadata,
                recorded_at: stored.recorded_at,
            })
            .collect())
    }

    async fn read_events(&self, query: PgQuery<'_>) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = self.fetch_all(query).await?;
        rows.iter()
            .map(|row| event_row(row, 0).map_err(map_sqlx)?.into_recorded())
            .collect()
    }

    /// Wakes the schema's subscribers after an append has committed (see the type's docs).
    pub(crate) fn wake_subscribers(&self) {
        self.wake_ups.signal();
    }

    /// Runs a statement on one of the store's own connections; all its rows.
    pub(crate) async fn fetch_all(&self, query: PgQuery<'_>) -> Result<Vec<PgRow>, StoreError> {
        let mut connection = self.direct.acquire().await?;
        let outcome = query.fetch_all(connection.get()).await;
        connection.settle(&outcome);
        outcome.map_err(map_sqlx)
    }

    /// Runs a statement on one of the store's own connections; its first row, if any.
    async fn fetch_optional(&self, query: PgQuery<'_>) -> Result<Option<PgRow>, StoreError> {
        let mut connection = self.direct.acquire().await?;
        let outcome = query.fetch_optional(connection.get()).await;
        connection.settle(&outcome);
        outcome.map_err(map_sqlx)
    }

    /// Runs a statement that always returns a row on one of the store's own connections.
    async fn fetch_one(&self, query: PgQuery<'_>) -> Result<PgRow, StoreError> {
        self.fetch_optional(query)
            .await?
            .ok_or_else(|| map_sqlx(sqlx::Error::RowNotFound))
    }

    /// Runs a statement without rows on one of the store's own connections.
    async fn execute(&self, query: PgQuery<'_>) -> Result<(), StoreError> {
        let mut connection = self.direct.acquire().await?;
        let outcome = query.execute(connection.get()).await;
        connection.settle(&outcome);
        outcome.map(drop).map_err(map_sqlx)
    }

    /// The name of the notification channel [`listen`](EventSource::listen) waits on.
    pub fn notification_channel(&self) -> &str {
        &self.sql.channel
    }
}

impl EventSource for PostgresStore {
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
        let query = sqlx::query(&self.sql.read_batch)
            .bind(sql::clamp_i64(after.transaction_id))
            .bind(sql::clamp_i64(after.position))
            .bind(event_types)
            .bind(sql::clamp_i64(limit as u64));
        // Rows are decoded as they arrive, while the server still reads the next ones. Every row
        // carries the horizon; with no event there is still one row, of NULLs.
        let mut xmin = None;
        let mut events = Vec::with_capacity(limit.min(READ_BATCH_CAPACITY));
        // The first row that is not an event Chronicle could have written; the rest are still
        // read, so that the connection is left clean.
        let mut bad_row = None;
        let mut connection = self.direct.acquire().await?;
        let outcome = async {
            let mut rows = query.fetch(connection.get());
            while let Some(row) = rows.try_next().await? {
                xmin = Some(row.try_get::<i64, _>(0)?);
                if row.try_get::<Option<i64>, _>(1)?.is_some() {
                    match event_row(&row, 1)?.into_recorded() {
                        Ok(event) => events.push(event),
                        Err(error) => {
                            bad_row.get_or_insert(error);
                        }
                    }
                }
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        connection.settle(&outcome);
        outcome.map_err(map_sqlx)?;
        if let Some(error) = bad_row {
            return Err(error);
        }
        // The statement reads in this order; sorting costs one pass over sorted events.
        events.sort_by_key(Checkpoint::of);
        let xmin = xmin.ok_or_else(|| map_sqlx(sqlx::Error::RowNotFound))?;
        let caught_up = Checkpoint {
            transaction_id: sql::to_u64("xmin", xmin)?,
            position: 0,
        };
        Ok(subscription::batch(after, events, limit, caught_up))
    }

    async fn head(&self) -> Result<Head, StoreError> {
        let row = self.fetch_one(sqlx::query(&self.sql.head)).await?;
        let xmin = sql::to_u64("xmin", row.try_get(0).map_err(map_sqlx)?)?;
        let position: Option<i64> = row.try_get(1).map_err(map_sqlx)?;
        Ok(Head {
            checkpoint: Checkpoint {
                transaction_id: xmin,
                position: 0,
            },
            position: position.map(|p| sql::to_u64("position", p)).transpose()?,
            recorded_at: row.try_get(2).map_err(map_sqlx)?,
        })
    }

    async fn count_after(&self, after: Checkpoint, event_types: &[&str]) -> Result<u64, StoreError> {
        let row = self
            .fetch_one(
                sqlx::query(&self.sql.count_after)
                    .bind(sql::clamp_i64(after.transaction_id))
                    .bind(sql::clamp_i64(after.position))
                    .bind(event_types),
            )
            .await?;
        let count: i64 = row.try_get(0).map_err(map_sqlx)?;
        sql::to_u64("count", count)
    }

    async fn checkpoint_of(&self, position: u64) -> Result<Option<Checkpoint>, StoreError> {
        let Ok(position_i64) = i64::try_from(position) else {
            return Ok(None);
        };
        let transaction_id: Option<i64> = self
            .fetch_optional(sqlx::query(&self.sql.checkpoint_of).bind(position_i64))
            .await?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(map_sqlx)?;
        transaction_id
            .map(|id| {
                Ok(Checkpoint {
                    transaction_id: sql::to_u64("transaction_id", id)?,
                    position,
                })
            })
            .transpose()
    }

    /// A `LISTEN` on the schema's channel, on a connection of its own (opened with the pool's
    /// connect options and acquire timeout, outside the pool), so that waiting subscribers hold
    /// no pool connection. The connection is re-established by [`AppendListener::wait`] after it
    /// is lost, and closed when the listener is dropped.
    async fn listen(&self) -> Result<AppendListener, StoreError> {
        let options = (*self.pool.connect_options()).clone();
        let connect_timeout = self.pool.options().get_acquire_timeout();
        AppendListener::postgres(options, connect_timeout, self.sql.channel.clone())
            .await
            .map_err(map_sqlx)
    }
}

impl EventStore for PostgresStore {
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
            store = "postgres",
            stream_id,
            expected_version,
            count = events.len()
        );
        let appended = self
            .append_batch(None, stream_id, expected_version, &events)
            .instrument(span)
            .await?;
        let last = appended.last().ok_or_else(|| StoreError::Conflict {
            stream_id: stream_id.to_owned(),
            expected: expected_version,
        })?;
        tracing::debug!(
            stream_version = last.stream_version,
            position = last.position,
            "appended"
        );
        self.wake_subscribers();
        Ok(Receipt {
            stream_id: stream_id.to_owned(),
            stream_version: last.stream_version,
            position: Some(last.position),
        })
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_events(
            sqlx::query(&self.sql.read_stream)
                .bind(stream_id)
                .bind(sql::clamp_i64(after_version)),
        )
        .await
    }

    async fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_events(
            sqlx::query(&self.sql.read_all)
                .bind(sql::clamp_i64(after_position))
                .bind(sql::clamp_i64(limit as u64)),
        )
        .await
    }

    async fn read_by_correlation(&self, correlation_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_events(sqlx::query(&self.sql.read_by_correlation).bind(correlation_id.to_string()))
            .await
    }

    async fn read_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let Some(row) = self
            .fetch_optional(sqlx::query(&self.sql.read_snapshot).bind(stream_id))
            .await?
        else {
            return Ok(None);
        };
        let snapshot_version: i32 = row.try_get(2).map_err(map_sqlx)?;
        let state: String = row.try_get(4).map_err(map_sqlx)?;
        Ok(Some(Snapshot {
            stream_id: row.try_get(0).map_err(map_sqlx)?,
            aggregate_type: row.try_get(1).map_err(map_sqlx)?,
            snapshot_version: u32::try_from(snapshot_version).map_err(|_| {
                corrupt(CorruptRow::OutOfRange(
                    "snapshot_version",
                    i64::from(snapshot_version),
                ))
            })?,
            stream_version: sql::to_u64("stream_version", row.try_get(3).map_err(map_sqlx)?)?,
            state: serde_json::value::RawValue::from_string(state)
                .map_err(|e| StoreError::Database(Box::new(e)))?,
            taken_at: row.try_get(5).map_err(map_sqlx)?,
        }))
    }

    async fn write_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let snapshot_version = i32::try_from(snapshot.snapshot_version).map_err(|_| {
            corrupt(CorruptRow::OutOfRange(
                "snapshot_version",
                i64::from(snapshot.snapshot_version),
            ))
        })?;
        let stream_version = i64::try_from(snapshot.stream_version)
            .map_err(|_| corrupt(CorruptRow::OutOfRange("stream_version", i64::MAX)))?;
        self.execute(
            sqlx::query(&self.sql.write_snapshot)
                .bind(&snapshot.stream_id)
                .bind(&snapshot.aggregate_type)
                .bind(snapshot_version)
                .bind(stream_version)
                .bind(snapshot.state.get())
                .bind(snapshot.taken_at),
        )
        .await
    }

    async fn find_command(&self, command_id: Uuid) -> Result<Option<Receipt>, StoreError> {
        let Some(row) = self
            .fetch_optional(sqlx::query(&self.sql.find_command).bind(command_id))
            .await?
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

/// A statement with its arguments bound.
pub(crate) type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, PgArguments>;

/// What the database assigned to one appended event.
struct Appended {
    position: u64,
    stream_version: u64,
    transaction_id: u64,
    recorded_at: chrono::DateTime<chrono::Utc>,
}

impl Statements {
    fn new(schema: String) -> Self {
        let table = format!("\"{schema}\".chronicle_events");
        let snapshots = format!("\"{schema}\".chronicle_snapshots");
        let channel = channel_name(&schema);
        // The order `event_row` reads. `xid8` has no cast to `bigint`; through `text` it is exact
        // (an `xid8` is below 2^63 for as long as the epoch is below 2^31).
        let columns = "position, stream_id, stream_version, event_id, event_type, event_version, \
                       payload::text, metadata::text, recorded_at, transaction_id::text::bigint";
        // Rows after a checkpoint, of some types (all when the list is empty). Comparing rows
        // keeps it an index condition on (transaction_id, position). The statements add
        // `transaction_id < xmin`: only rows whose writer is older than every running transaction,
        // so that nothing can commit before them any more.
        let after_checkpoint = "(transaction_id, position) > ($1::bigint::text::xid8, $2::bigint) \
             AND (cardinality($3::text[]) = 0 OR event_type = ANY($3::text[]))";
        Self {
            migrate: format!(
                r#"
-- Sent as one simple-protocol message, which Postgres runs as one transaction: the advisory lock
-- is held to the end, and a failure leaves nothing half-created.
-- Concurrent `CREATE ... IF NOT EXISTS` of the same object can still fail on the catalog's unique
-- indexes, so concurrent migrations of a schema must take turns.
SELECT pg_advisory_xact_lock(hashtext('chronicle.migrate'), hashtext('{schema}'));

-- Not `CREATE SCHEMA IF NOT EXISTS`: that needs the CREATE right on the database even when the
-- schema exists, which an owner of just the schema (say `public`) does not have.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{schema}') THEN
        CREATE SCHEMA "{schema}";
    END IF;
END
$do$;

CREATE TABLE IF NOT EXISTS {table} (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id text NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version > 0),
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    event_version int NOT NULL,
    payload jsonb NOT NULL,
    metadata jsonb NOT NULL,
    command_id uuid NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT {EVENT_ID_KEY} UNIQUE (event_id),
    CONSTRAINT {STREAM_VERSION_KEY} UNIQUE (stream_id, stream_version)
);

CREATE INDEX IF NOT EXISTS chronicle_events_command_id_idx ON {table} (command_id);
CREATE INDEX IF NOT EXISTS chronicle_events_transaction_id_idx ON {table} (transaction_id, position);
CREATE INDEX IF NOT EXISTS chronicle_events_correlation_id_idx ON {table} ((metadata->>'correlation_id'));

CREATE TABLE IF NOT EXISTS {snapshots} (
    stream_id text PRIMARY KEY,
    aggregate_type text NOT NULL,
    snapshot_version int NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version > 0),
    state jsonb NOT NULL,
    taken_at timestamptz NOT NULL
);

CREATE OR REPLACE FUNCTION "{schema}".chronicle_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'chronicle_events is append-only: % is not allowed', TG_OP
        USING HINT = 'Events are facts: record a compensating event instead.';
END
$fn$;

-- Created only when missing: re-creating would lock the table against writers at every start.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = '{table}'::regclass AND tgname = 'chronicle_events_append_only') THEN
        CREATE TRIGGER chronicle_events_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION "{schema}".chronicle_events_append_only();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = '{table}'::regclass AND tgname = 'chronicle_events_no_truncate') THEN
        CREATE TRIGGER chronicle_events_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".chronicle_events_append_only();
    END IF;
    -- Layouts 2 and 3 notified from a trigger, which serialized concurrent commits.
    IF EXISTS (SELECT 1 FROM pg_trigger
               WHERE tgrelid = '{table}'::regclass AND tgname = 'chronicle_events_notify') THEN
        DROP TRIGGER chronicle_events_notify ON {table};
    END IF;
END
$do$;
DROP FUNCTION IF EXISTS "{schema}".chronicle_events_notify();

COMMENT ON TABLE {table} IS '{SCHEMA_MARKER}';
"#
            ),
            // One statement per command: the WHERE guard and the unique (stream_id,
            // stream_version) constraint together make the append all-or-nothing under
            // concurrency, without an explicit transaction or lock.
            append: format!(
                "INSERT INTO {table} \
                     (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
                 SELECT $1, $2 + e.ord, e.event_id, e.event_type, e.event_version, e.payload, e.metadata, $3 \
                 FROM UNNEST($4::uuid[], $5::text[], $6::int[], $7::text[]::jsonb[], $8::text[]::jsonb[]) \
                     WITH ORDINALITY AS e(event_id, event_type, event_version, payload, metadata, ord) \
                 WHERE (SELECT COALESCE(MAX(stream_version), 0) FROM {table} WHERE stream_id = $1) = $2 \
                 ORDER BY e.ord \
                 RETURNING position, stream_version, transaction_id::text::bigint, recorded_at"
            ),
            append_one: format!(
                "INSERT INTO {table} \
                     (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
                 SELECT $1, $2 + 1, $4, $5, $6, $7::jsonb, $8::jsonb, $3 \
                 WHERE (SELECT COALESCE(MAX(stream_version), 0) FROM {table} WHERE stream_id = $1) = $2 \
                 RETURNING position, stream_version, transaction_id::text::bigint, recorded_at"
            ),
            read_stream: format!(
                "SELECT {columns} FROM {table} WHERE stream_id = $1 AND stream_version > $2 \
                 ORDER BY stream_version"
            ),
            read_all: format!("SELECT {columns} FROM {table} WHERE position > $1 ORDER BY position LIMIT $2"),
            find_command: format!(
                "SELECT stream_id, stream_version, position FROM {table} WHERE command_id = $1 \
                 ORDER BY position DESC LIMIT 1"
            ),
            // One statement, so the horizon and the rows come from the same snapshot. The
            // lateral join yields one row of NULL events when nothing is visible. The order is on
            // `xid`, the table's column: `transaction_id` here would name the `bigint` output
            // column, which no index serves, and every batch would sort the rest of the log. The
            // join keeps the index order, so no outer `ORDER BY` makes the server sort the batch
            // again before sending its first row; the reader checks the order.
            read_batch: format!(
                "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) \
                 SELECT h.xmin::text::bigint, e.* FROM h LEFT JOIN LATERAL ( \
                     SELECT {columns}, transaction_id AS xid FROM {table} \
                     WHERE {after_checkpoint} AND transaction_id < h.xmin \
                     ORDER BY xid, position LIMIT $4 \
                 ) e ON true"
            ),
            head: format!(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, e.position, e.recorded_at \
                 FROM (SELECT) AS one LEFT JOIN LATERAL ( \
                     SELECT position, recorded_at FROM {table} ORDER BY position DESC LIMIT 1 \
                 ) e ON true"
            ),
            count_after: format!(
                "SELECT count(*) FROM {table} \
                 WHERE {after_checkpoint} AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
            ),
            checkpoint_of: format!("SELECT transaction_id::text::bigint FROM {table} WHERE position = $1"),
            read_by_correlation: format!(
                "SELECT {columns} FROM {table} WHERE metadata->>'correlation_id' = $1 ORDER BY position"
            ),
            read_snapshot: format!(
                "SELECT stream_id, aggregate_type, snapshot_version, stream_version, state::text, taken_at \
                 FROM {snapshots} WHERE stream_id = $1"
            ),
            // The newest per stream: a snapshot further along is kept, whatever its shape, so a
            // late write never replaces a newer one.
            write_snapshot: format!(
                "INSERT INTO {snapshots} AS s \
                     (stream_id, aggregate_type, snapshot_version, stream_version, state, taken_at) \
                 VALUES ($1, $2, $3, $4, $5::jsonb, $6) \
                 ON CONFLICT (stream_id) DO UPDATE SET aggregate_type = excluded.aggregate_type, \
                     snapshot_version = excluded.snapshot_version, stream_version = excluded.stream_version, \
                     state = excluded.state, taken_at = excluded.taken_at \
                 WHERE s.stream_version <= excluded.stream_version"
            ),
            channel,
            schema,
            table,
        }
    }
}

/// The per-event columns of an append, as the arrays its `UNNEST` statement binds.
pub(crate) struct EventColumns<'a> {
    pub(crate) event_ids: Vec<Uuid>,
    pub(crate) event_types: Vec<&'static str>,
    pub(crate) event_versions: Vec<i32>,
    pub(crate) payloads: Vec<&'a str>,
    pub(crate) metadata: Vec<String>,
}

impl<'a> EventColumns<'a> {
    pub(crate) fn with_capacity(events: usize) -> Self {
        Self {
            event_ids: Vec::with_capacity(events),
            event_types: Vec::with_capacity(events),
            event_versions: Vec::with_capacity(events),
            payloads: Vec::with_capacity(events),
            metadata: Vec::with_capacity(events),
        }
    }

    pub(crate) fn push(&mut self, event: &'a NewEvent) -> Result<(), StoreError> {
        let version = i32::try_from(event.event_version).map_err(|_| {
            corrupt(CorruptRow::OutOfRange(
                "event_version",
                i64::from(event.event_version),
            ))
        })?;
        self.event_ids.push(event.event_id);
        self.event_types.push(event.event_type);
        self.event_versions.push(version);
        self.payloads.push(event.payload.get());
        self.metadata.push(sql::metadata_json(event)?);
        Ok(())
    }
}

/// The schema names Chronicle accepts, for event and read stores alike: `[a-z_][a-z0-9_]*`, at
/// most 63 bytes, so the name in SQL is the name a person types in `psql`.
pub(crate) fn is_valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= MAX_IDENTIFIER_LEN
}

fn validate_schema(schema: &str) -> Result<(), StoreError> {
    if is_valid_schema(schema) {
        Ok(())
    } else {
        Err(StoreError::Database(Box::new(InvalidSchemaName(
            schema.to_owned(),
        ))))
    }
}

#[derive(Debug)]
struct InvalidSchemaName(String);

impl fmt::Display for InvalidSchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Postgres schema name `{}`: use 1 to 63 lowercase ASCII letters, digits and \
             underscores, not starting with a digit",
            self.0
        )
    }
}

impl std::error::Error for InvalidSchemaName {}

/// The event in the row's columns from `at` on, in the order of `Statements::new`'s `columns`.
fn event_row(row: &PgRow, at: usize) -> Result<EventRow, sqlx::Error> {
    Ok(EventRow {
        position: row.try_get(at)?,
        stream_id: row.try_get(at + 1)?,
        stream_version: row.try_get(at + 2)?,
        event_id: row.try_get(at + 3)?,
        event_type: row.try_get(at + 4)?,
        event_version: i64::from(row.try_get::<i32, _>(at + 5)?),
        payload: row.try_get(at + 6)?,
        metadata: row.try_get(at + 7)?,
        recorded_at: row.try_get(at + 8)?,
        transaction_id: row.try_get(at + 9)?,
    })
}

/// The notification channel of `schema`: `chronicle_events_<schema>`, or, when that is longer
/// than an identifier may be, a prefix of it and a hash of the whole schema name.
fn channel_name(schema: &str) -> String {
    const PREFIX: &str = "chronicle_events_";
    let name = format!("{PREFIX}{schema}");
    if name.len() <= MAX_IDENTIFIER_LEN {
        return name;
    }
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`. Schema names are ASCII
    // (`validate_schema`), so the cut is on a character boundary.
    let hash = schema.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let keep = MAX_IDENTIFIER_LEN - PREFIX.len() - 17;
    format!("{PREFIX}{}_{hash:016x}", &schema[..keep])
}

/// Tells the two unique constraints apart: a stream version already taken means a concurrent
/// writer won the race; an event id already taken means the command was appended before.
fn append_error(e: sqlx::Error, events: &[NewEvent], conflict: impl FnOnce() -> StoreError) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.code().as_deref() == Some("23505") {
            match db.constraint() {
                Some(STREAM_VERSION_KEY) => return conflict(),
                Some(EVENT_ID_KEY) => {
                    let event_id = db
                        .try_downcast_ref::<PgDatabaseError>()
                        .and_then(|pg| pg.detail())
                        .and_then(duplicate_key_in_detail)
                        .unwrap_or_else(|| sql::guess_duplicate(events));
                    return StoreError::DuplicateEvent { event_id };
                }
                _ => {}
            }
        }
    }
    map_sqlx(e)
}

/// The id in Postgres' detail `Key (event_id)=(<uuid>) already exists.`
fn duplicate_key_in_detail(detail: &str) -> Option<Uuid> {
    let start = detail.find("=(")? + 2;
    let len = detail[start..].find(')')?;
    Uuid::parse_str(&detail[start..start + len]).ok()
}

/// Sorts a driver error into [`StoreError::Unavailable`] or [`StoreError::Database`].
pub(crate) fn map_sqlx(e: sqlx::Error) -> StoreError {
    sql::map_sqlx_with(e, |db| {
        // Class 08 is "connection exception"; 57P0x a server shutting down or starting up;
        // 53300 the server's connection limit. All pass with time, unlike other errors.
        db.code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0") || code == "53300")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        for ok in ["public", "_x", "t_0a9f", "a"] {
            assert!(validate_schema(ok).is_ok(), "{ok}");
        }
        for bad in ["", "0abc", "Public", "a-b", "a b", "a\"b", "é", &"a".repeat(64)] {
            assert!(
                matches!(validate_schema(bad), Err(StoreError::Database(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel_name("public"), "chronicle_events_public");
        let long = "a".repeat(63);
        let other = format!("{}b", "a".repeat(62));
        for schema in [&long, &other] {
            let channel = channel_name(schema);
            assert_eq!(channel.len(), MAX_IDENTIFIER_LEN, "{channel}");
            assert!(channel.starts_with("chronicle_events_aaaa"), "{channel}");
        }
        assert_ne!(channel_name(&long), channel_name(&other));
        let longest_plain = "c".repeat(MAX_IDENTIFIER_LEN - "chronicle_events_".len());
        assert_eq!(
            channel_name(&longest_plain),
            format!("chronicle_events_{longest_plain}")
        );
    }

    #[test]
    fn duplicate_key_detail() {
        let id = Uuid::new_v4();
        let detail = format!("Key (event_id)=({id}) already exists.");
        assert_eq!(duplicate_key_in_detail(&detail), Some(id));
        assert_eq!(duplicate_key_in_detail("something else"), None);
    }
}
