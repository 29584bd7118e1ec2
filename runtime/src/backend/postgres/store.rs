//! The Postgres event store: its handle, its configuration (schema, inline projections, group
//! commit) and its migration. What it runs its statements on is `database.rs`; appends are in
//! `append.rs`, reads in `reads.rs`, subscriptions in `source.rs`.

use std::fmt;
use std::sync::Arc;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::database::Database;
use super::errors::store_error;
use super::group_commit::{GroupCommit, GroupCommitter};
use super::inline::InlineProjection;
use super::schema::{check_store_schema, table_comment};
use super::statements::LAYOUT_MARKER;
use crate::core::error::StoreError;
use crate::core::projection::Projection;
use crate::core::read_store::ReadStore;
use crate::core::tenant::Tenant;

/// How many connections [`PostgresStore::connect`] opens at most.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The schema used unless [`PostgresStore::with_schema`] picks another.
const DEFAULT_SCHEMA: &str = "public";

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
/// | `tenant` | `text`, default `''` | the [`Tenant`] whose stream it is (`''`: none); indexed with `position` for a tenant's log |
/// | `stream_id` | `text` | the aggregate instance the event belongs to: `"{aggregate}-{id}"` |
/// | `stream_version` | `bigint` | the event's version within its stream, from 1, without gaps; unique per tenant and stream |
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
/// [`read_by_correlation`](crate::EventStore::read_by_correlation).
///
/// # Snapshots
///
/// Snapshots of aggregates declared with `#[aggregate(snapshot_every = N)]` live in a second
/// table, `chronicle_snapshots`, one row per tenant's stream (the newest):
///
/// | column | type | meaning |
/// | --- | --- | --- |
/// | `tenant` | `text`, primary key with `stream_id` | the stream's tenant (`''`: none) |
/// | `stream_id` | `text` | the aggregate instance |
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
/// As an [`EventSource`](crate::EventSource), the store delivers an event only once every
/// transaction older than its writer has ended: it reads rows whose `transaction_id` is below
/// `pg_snapshot_xmin` of the read's snapshot, in `(transaction_id, position)` order (the index
/// `chronicle_events_transaction_id_idx`). An event whose position was taken before a slower
/// writer's but committed after it is therefore never skipped, whatever the commit order.
///
/// The price is latency: a transaction that stays open holds every subscriber back until it
/// ends, and that means any transaction holding a transaction id anywhere on the server (the
/// snapshot's `xmin` is cluster-wide: a long data migration in another database counts too, as
/// does a prepared transaction nobody committed). Keep write transactions short. Read-only
/// transactions do not count. A projection's status reports such events as held back, and by
/// what.
///
/// After appends the store sends a notification on the channel `chronicle_events_<schema>`
/// (the first append after a quiet moment at once, then at most one every 2 ms, shared by the
/// appends in between), from a connection of its own; [`listen`](crate::EventSource::listen)
/// waits for it. Rows inserted around the store wake nobody: subscribers find them by polling.
///
/// # Inline projections and group commit
///
/// [`with_inline`](Self::with_inline) applies projections in each append's transaction;
/// [`with_group_commit`](Self::with_group_commit) lets concurrent appends share statements. They
/// combine: a group's statement and its inline projections commit together.
///
/// # Connections
///
/// The store's own statements (appends, stream and subscription reads) run on up to as many
/// connections as the pool may open, which the store takes from the pool and then keeps itself
/// (detached, so the pool may open others): sqlx's pool tests each connection with a round trip
/// whenever it is handed back, which would cost every command a second round trip. A connection
/// that fails, or whose session the server ended, is closed, and so are the idle ones opened
/// before it (after a server restart they are all dead): the statement that found it so fails
/// with [`StoreError::Unavailable`], and the next one gets a new connection. One idle for the
/// pool's idle timeout (10 minutes by default) is not reused. The pool itself serves
/// [`pool`](Self::pool) users, inline projections and read stores built on it. At most twice the
/// pool's size is open at once.
///
/// Cloning is cheap: clones share the pool, the connections and the configuration, and so do
/// the store's [`for_tenant`](crate::EventStore::for_tenant) bindings.
#[derive(Clone)]
pub struct PostgresStore {
    pub(super) database: Database,
    pub(super) group: Option<Arc<GroupCommitter>>,
    pub(super) tenant: Tenant,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.database.sql.schema)
            .field("tenant", &self.tenant)
            .field("pool", &self.database.pool)
            .field("inline", &self.database.inline.names())
            .field("group_commit", &self.group.as_ref().map(|group| group.config()))
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
            .map_err(store_error)?;
        Ok(Self::from_pool(pool))
    }

    /// A store on an existing pool, using the `public` schema.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            database: Database::new(pool, DEFAULT_SCHEMA),
            group: None,
            tenant: Tenant::none(),
        }
    }

    /// The same store, with its tables in the Postgres schema `schema` (created by
    /// [`migrate`](Self::migrate) if missing). Inline projections and group commit configured
    /// before are kept.
    ///
    /// The name must match `[a-z_][a-z0-9_]*`, be at most 63 bytes and not be a system schema
    /// (`pg_*`, `information_schema`); anything else is refused with
    /// [`StoreError::InvalidName`] rather than quoted, so that the name in SQL is the name a
    /// person types in `psql`.
    pub fn with_schema(self, schema: &str) -> Result<Self, StoreError> {
        check_store_schema(schema)?;
        let store = Self {
            database: self.database.in_schema(schema),
            group: None,
            tenant: self.tenant,
        };
        Ok(match self.group {
            Some(group) => store.with_group_commit(group.config()),
            None => store,
        })
    }

    /// Applies `projection` in the same transaction as every append: its read model is never
    /// behind the log, and a failing handler fails the command (nothing is appended, with
    /// [`StoreError::InlineProjection`]). Its read model must live in this store's database and
    /// schema (its handlers take `&mut PgConnection`, and see only this store's schema on their
    /// `search_path`); [`migrate`](Self::migrate) prepares it.
    ///
    /// Projections run in the order they were added. The price every inline view pays: its
    /// writes lengthen every append, and it keeps no checkpoint of its own, so prefer a
    /// [`ProjectionRunner`](crate::ProjectionRunner) unless a reader truly cannot wait.
    pub fn with_inline<P>(mut self, projection: P) -> Self
    where
        P: Projection,
        P::Store: ReadStore<Connection = sqlx::PgConnection>,
    {
        self.database.inline = self
            .database
            .inline
            .with(Arc::new(projection) as Arc<dyn InlineProjection>);
        match self.group.take() {
            Some(group) => self.with_group_commit(group.config()),
            None => self,
        }
    }

    /// Groups concurrent appends into shared statements: commands that arrive while a group
    /// statement is in flight are written together by the next one, each stream still checked
    /// against the version its command decided on (see [`GroupCommit`]).
    pub fn with_group_commit(mut self, config: GroupCommit) -> Self {
        self.group = Some(Arc::new(GroupCommitter::new(self.database.clone(), config)));
        self
    }

    /// The Postgres schema holding the store's tables.
    pub fn schema(&self) -> &str {
        &self.database.sql.schema
    }

    /// The connection pool, for queries of your own (read models in the same database, say).
    pub fn pool(&self) -> &PgPool {
        &self.database.pool
    }

    /// The name of the notification channel [`listen`](crate::EventSource::listen) waits on.
    pub fn notification_channel(&self) -> &str {
        &self.database.sql.channel
    }

    /// Creates the schema, the `chronicle_events` table, its indexes and append-only triggers,
    /// the `chronicle_snapshots` table and the record of prepared inline read models if they are
    /// missing; upgrades the tables of an earlier version in place (upgrading a large log builds
    /// the correlation index, which holds appends back until it is built). Then prepares the
    /// read model of every inline projection that has not been prepared at its version: its
    /// `#[reset]` method, then every event of its types already stored, in one transaction that
    /// keeps appends out meanwhile.
    ///
    /// Safe to run at every start, from several processes at once: the work happens in
    /// transactions holding advisory locks per schema. Once the tables are complete, this only
    /// reads the catalog, so a role without DDL rights may call it too.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let database = &self.database;
        let marker = table_comment(&database.pool, &database.sql.schema, "chronicle_events")
            .await
            .map_err(store_error)?;
        if marker.as_deref() != Some(LAYOUT_MARKER) {
            sqlx::raw_sql(&database.sql.migrate)
                .execute(&database.pool)
                .await
                .map_err(store_error)?;
        }
        super::keys::migrate(&database.pool, &database.sql.schema).await?;
        database.inline.prepare(&database.pool, &database.sql).await
    }

    /// The SQL [`migrate`](Self::migrate) runs when the tables are missing or of an earlier
    /// layout (idempotent DDL, for review or a DBA's own run): the event log's tables, then the
    /// key table of `#[pii]` fields. Preparing inline projections is not in it: that is their
    /// `#[reset]` and a replay, which only `migrate` does.
    pub fn migration_sql(&self) -> String {
        let schema = &self.database.sql.schema;
        format!(
            "{}\n{}",
            self.database.sql.migrate,
            super::keys::migration_sql(schema)
        )
    }
}
