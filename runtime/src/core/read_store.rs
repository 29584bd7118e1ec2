//! Read stores: where read models live, with the checkpoints and dead letters of the
//! projections that write them, and the records of what consumers fed from a broker applied.
//!
//! The trait names no database driver: a store says what a handler writes with
//! ([`ReadStore::Connection`]), what a runner holds while it leads ([`ReadStore::Session`]) and
//! what a transaction is ([`ReadTransaction`]). The SQL backends hand out sqlx connections; a
//! key-value store could hand out a buffer of writes that its commit applies atomically.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{BoxError, HandlerError};
use super::limits::broken_name_rule;
use super::source::Checkpoint;

/// A projection's row in `chronicle_checkpoints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointRow {
    /// The [`Projection::VERSION`](crate::Projection::VERSION) the read model was built with.
    pub version: u32,
    /// How far the read model got: everything at or before it is applied.
    pub checkpoint: Checkpoint,
}

/// A row of `chronicle_dead_letters`: an event a projection skipped because its handler kept
/// failing on it, or because it could not be read (with
/// [`OnPoison::DeadLetter`](crate::OnPoison::DeadLetter)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The projection that skipped the event.
    pub projection: String,
    /// The [`Projection::VERSION`](crate::Projection::VERSION) that skipped it: dead letters
    /// belong to the read model that recorded them.
    pub version: u32,
    /// The event's global position.
    pub position: u64,
    /// The event's writing transaction (0 on stores that commit in order).
    pub transaction_id: u64,
    /// The event's id; `None` when the stored id itself could not be read.
    pub event_id: Option<Uuid>,
    /// The stream the event belongs to.
    pub stream_id: String,
    /// The event's version within its stream.
    pub stream_version: u64,
    /// The event's stored type name.
    pub event_type: String,
    /// The handler's error, or why the event could not be read, with its causes.
    pub error: String,
    /// When the event was dead-lettered.
    pub recorded_at: DateTime<Utc>,
    /// When an operator asked for the event to be applied again
    /// ([`ReadStore::request_retry`]); `None` when no retry is pending. The projection's active
    /// runner applies it, deletes the letter on success, and records the new error (with no
    /// retry pending) on failure.
    pub retry_requested_at: Option<DateTime<Utc>>,
}

/// A consumer's row in `chronicle_consumers`: how far a read model fed from a message broker
/// (by a [`Consumer`](crate::Consumer)) got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerRow {
    /// The [`Projection::VERSION`](crate::Projection::VERSION) the read model was built with.
    pub version: u32,
    /// The place in the log of the furthest event applied, in the order the relay published
    /// (`Checkpoint::START` before the first).
    pub checkpoint: Checkpoint,
    /// The broker's sequence number of the last message applied (0 on brokers without one, or
    /// before the first): where the subscription resumes.
    pub broker_sequence: u64,
    /// When the furthest event applied was recorded in the log; `None` before the first.
    pub last_recorded_at: Option<DateTime<Utc>>,
}

/// Which dead letters of a projection [`ReadStore::delete_dead_letters`] deletes.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum DeadLetters<'a> {
    /// Those recorded by another version of the projection (whose read model was reset).
    NotOfVersion(u32),
    /// Those of the events at these positions, of any version (applied at last).
    AtPositions(&'a [u64]),
}

/// An error of a read store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadStoreError {
    /// The read store could not serve the request now (unreachable, busy, or it asked to retry a
    /// transaction that met a deadlock or a serialization failure): worth retrying later.
    #[error("read store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The read store's database answered with an error.
    #[error("read store error: {0}")]
    Database(#[source] BoxError),
    /// A row of one of Chronicle's read-store tables holds a value Chronicle could not have
    /// written.
    #[error("corrupt row in `{table}`: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong, and where.
        detail: String,
    },
    /// A checkpoint does not fit the read store's columns.
    #[error("checkpoint {checkpoint:?} does not fit the read store's columns")]
    OutOfRange {
        /// The checkpoint.
        checkpoint: Checkpoint,
    },
    /// A URL names an engine this build has no read store for (its scheme unknown, or its cargo
    /// feature off).
    #[error("no SQL read store for `{scheme}:` URLs (this build opens {enabled:?})")]
    UnsupportedUrl {
        /// The URL's scheme (never the rest: it may hold a password).
        scheme: String,
        /// Which schemes this build opens.
        enabled: &'static [&'static str],
    },
    /// A name Chronicle puts into SQL (a schema) that is not a plain identifier.
    #[error("invalid {kind} name `{name}`: {rule}")]
    InvalidName {
        /// What the name names.
        kind: &'static str,
        /// The name given.
        name: String,
        /// What a valid name looks like.
        rule: &'static str,
    },
}

/// Checks the name of a projection, relay or consumer (`kind`) before any store sees it: not
/// empty, at most [`MAX_NAME_BYTES`](crate::MAX_NAME_BYTES) bytes, no NUL character. Any other
/// text is kept as it is: every store binds a name as a value, never splices it into a statement
/// or a key pattern. Fails with [`ReadStoreError::InvalidName`].
pub fn check_name(kind: &'static str, name: &str) -> Result<(), ReadStoreError> {
    match broken_name_rule(name) {
        None => Ok(()),
        Some(rule) => Err(ReadStoreError::InvalidName {
            kind,
            name: name.chars().take(80).collect(),
            rule,
        }),
    }
}

impl ReadStoreError {
    /// Whether waiting and trying again may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A transaction of a read store: handlers write through its connection, and its commit is
/// all-or-nothing with the checkpoint update made in it.
pub trait ReadTransaction: Send {
    /// What handlers are handed.
    type Connection;

    /// The connection inside the transaction.
    fn connection(&mut self) -> &mut Self::Connection;

    /// Makes everything written in the transaction durable, at once.
    fn commit(self) -> impl Future<Output = Result<(), ReadStoreError>> + Send;

    /// Discards everything written in the transaction.
    fn rollback(self) -> impl Future<Output = Result<(), ReadStoreError>> + Send;
}

/// A store that holds read models and the checkpoints of the projections that write them.
///
/// Implemented by [`PostgresReadStore`](crate::PostgresReadStore), [`MySqlReadStore`](crate::MySqlReadStore) (MariaDB, feature `mysql`), `RedisReadStore` (feature `redis`) and
/// [`SqliteReadStore`](crate::SqliteReadStore). The methods besides [`migrate`](Self::migrate)
/// are what a [`ProjectionRunner`](crate::ProjectionRunner) and queries need: a session of the
/// runner's own, leadership among runners of one projection, transactions, and the checkpoint
/// and dead-letter tables, and the consumer tables a [`Consumer`](crate::Consumer) keeps (how far
/// it got, and each stream's last version applied). Applications rarely call them.
pub trait ReadStore: Clone + Send + Sync + 'static {
    /// What projection handlers write with and queries read with, inside a transaction.
    type Connection: Send + 'static;
    /// A runner's own hold on the store, kept for as long as it leads.
    type Session: Send + 'static;
    /// A read-write transaction on a session.
    type Transaction<'s>: ReadTransaction<Connection = Self::Connection> + 's;
    /// A transaction that cannot write (as far as the database can enforce it), for queries.
    type ReadOnly: ReadTransaction<Connection = Self::Connection> + 'static;

    /// Creates Chronicle's tables (checkpoints, dead letters, and whatever else the store needs)
    /// if missing, and upgrades those of an earlier version in place. Safe to run at every start,
    /// from several processes.
    fn migrate(&self) -> impl Future<Output = Result<(), ReadStoreError>> + Send;

    /// Opens a session for one runner.
    fn connect(&self) -> impl Future<Output = Result<Self::Session, ReadStoreError>> + Send;

    /// Ends a session (giving up whatever claim is tied to it).
    fn close(session: Self::Session) -> impl Future<Output = ()> + Send;

    /// Begins a read-write transaction on a runner's session.
    fn begin(
        session: &mut Self::Session,
    ) -> impl Future<Output = Result<Self::Transaction<'_>, ReadStoreError>> + Send;

    /// Begins the transaction of a batch of events read from the event log, with its checkpoint:
    /// one whose commit a crash of the read store's server may lose, since the batch and its
    /// checkpoint are then lost together and the runner reads and applies the batch again. The
    /// Postgres read store commits it without waiting for the WAL flush (`synchronous_commit`
    /// off for the transaction), which takes a flush off every batch's commit and so off
    /// read-your-writes waits and catch-ups. Not for what cannot be read again (a broker's
    /// messages, which are acknowledged after the commit). The default is [`begin`](Self::begin).
    fn begin_batch(
        session: &mut Self::Session,
    ) -> impl Future<Output = Result<Self::Transaction<'_>, ReadStoreError>> + Send {
        Self::begin(session)
    }

    /// Begins a read-only transaction, for queries.
    fn begin_read_only(&self) -> impl Future<Output = Result<Self::ReadOnly, ReadStoreError>> + Send;

    /// Tries to become the one active runner of `projection`, on `session`. `owner` names the
    /// runner; `lease` is how long the claim lasts without [`keep_lead`](Self::keep_lead) on
    /// stores whose claim is not tied to the session.
    fn try_lead<'a>(
        &'a self,
        session: &'a mut Self::Session,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> impl Future<Output = Result<bool, ReadStoreError>> + Send + 'a;

    /// Renews a claim taken with [`try_lead`](Self::try_lead); `false` when it was lost.
    fn keep_lead<'a>(
        &'a self,
        session: &'a mut Self::Session,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> impl Future<Output = Result<bool, ReadStoreError>> + Send + 'a;

    /// Gives up a claim taken with [`try_lead`](Self::try_lead).
    fn release_lead<'a>(
        &'a self,
        session: &'a mut Self::Session,
        projection: &'a str,
        owner: Uuid,
    ) -> impl Future<Output = Result<(), ReadStoreError>> + Send + 'a;

    /// Who holds the claim of `projection` taken with [`try_lead`](Self::try_lead), as far as
    /// the store can tell, read on a connection of the store's pool: the `owner` the claim was
    /// taken with (Postgres, SQLite, Redis), or the session holding it (MariaDB, whose locks name
    /// no owner; and Postgres, when the lock was taken by another program). `None` when nobody
    /// holds it, and by default, for stores that cannot tell.
    fn holder<'a>(
        &'a self,
        _projection: &'a str,
    ) -> impl Future<Output = Result<Option<String>, ReadStoreError>> + Send + 'a {
        std::future::ready(Ok(None))
    }

    /// The checkpoint row of `projection`, read on a runner's session.
    fn load_checkpoint<'a>(
        &'a self,
        session: &'a mut Self::Session,
        projection: &'a str,
    ) -> impl Future<Output = Result<Option<CheckpointRow>, ReadStoreError>> + Send + 'a;

    /// The checkpoint row of `projection`, read on a connection of the store's pool.
    fn read_checkpoint<'a>(
        &'a self,
        projection: &'a str,
    ) -> impl Future<Output = Result<Option<CheckpointRow>, ReadStoreError>> + Send + 'a;

    /// Every checkpoint row the store keeps, by name, in name order: each projection's, each
    /// partition's (`<projection>/<i>-of-<n>`) and a partitioned projection's layout row
    /// (`<projection>/partitions`). For operators' tools: `status` lists them.
    fn checkpoints(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, CheckpointRow)>, ReadStoreError>> + Send;

    /// Moves the checkpoint of `projection` from `previous` (`None`: no row yet) to `next`, in the
    /// transaction of `connection`, only if the row still holds `previous`. `false` when it did
    /// not: another runner moved it.
    fn save_checkpoint<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        projection: &'a str,
        previous: Option<CheckpointRow>,
        next: CheckpointRow,
    ) -> impl Future<Output = Result<bool, ReadStoreError>> + Send + 'a;

    /// Records `letter` in the transaction of `connection`, replacing an earlier record of the
    /// same event by the same version.
    fn record_dead_letter<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        letter: &'a DeadLetter,
    ) -> impl Future<Output = Result<(), ReadStoreError>> + Send + 'a;

    /// Deletes dead letters of `projection`, in the transaction of `connection`.
    fn delete_dead_letters<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        projection: &'a str,
        which: DeadLetters<'a>,
    ) -> impl Future<Output = Result<(), ReadStoreError>> + Send + 'a;

    /// Asks the active runner of `projection` to apply the dead letter `version` recorded for
    /// the event at `position` again, in a statement of its own on the store's pool (an operator's
    /// action: no runner needs to run here). `false` when there is no such letter.
    fn request_retry<'a>(
        &'a self,
        projection: &'a str,
        version: u32,
        position: u64,
    ) -> impl Future<Output = Result<bool, ReadStoreError>> + Send + 'a;

    /// The dead letters `version` of `projection` recorded, in subscription order.
    fn dead_letters<'a>(
        &'a self,
        projection: &'a str,
        version: u32,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, ReadStoreError>> + Send + 'a;

    /// The row of `consumer` in `chronicle_consumers`, read on a consumer's session.
    fn load_consumer<'a>(
        &'a self,
        session: &'a mut Self::Session,
        consumer: &'a str,
    ) -> impl Future<Output = Result<Option<ConsumerRow>, ReadStoreError>> + Send + 'a;

    /// The row of `consumer` in `chronicle_consumers`, read on a connection of the store's pool.
    fn read_consumer<'a>(
        &'a self,
        consumer: &'a str,
    ) -> impl Future<Output = Result<Option<ConsumerRow>, ReadStoreError>> + Send + 'a;

    /// Moves the row of `consumer` from `previous` (`None`: no row yet) to `next`, in the
    /// transaction of `connection`, only if the row still holds `previous`; `false` when it did
    /// not (another consumer of the same name moved it).
    fn save_consumer<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        consumer: &'a str,
        previous: Option<ConsumerRow>,
        next: ConsumerRow,
    ) -> impl Future<Output = Result<bool, ReadStoreError>> + Send + 'a;

    /// The version of `stream_id`'s last event `consumer` applied (`None`: none yet), in the
    /// transaction of `connection`: what tells a redelivered message from a new one.
    fn consumed_version<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        consumer: &'a str,
        stream_id: &'a str,
    ) -> impl Future<Output = Result<Option<u64>, ReadStoreError>> + Send + 'a;

    /// The same, read on a connection of the store's pool (for read-your-writes waits).
    fn read_consumed_version<'a>(
        &'a self,
        consumer: &'a str,
        stream_id: &'a str,
    ) -> impl Future<Output = Result<Option<u64>, ReadStoreError>> + Send + 'a;

    /// Records that `consumer` applied `stream_id` up to `version`, in the transaction of
    /// `connection`.
    fn save_consumed_version<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        consumer: &'a str,
        stream_id: &'a str,
        version: u64,
    ) -> impl Future<Output = Result<(), ReadStoreError>> + Send + 'a;

    /// Forgets every stream version `consumer` recorded (its read model is being rebuilt), in
    /// the transaction of `connection`.
    fn forget_consumed<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        consumer: &'a str,
    ) -> impl Future<Output = Result<(), ReadStoreError>> + Send + 'a;

    /// Whether a handler's error comes from a transient failure of this store (a lost
    /// connection, a busy database) rather than from the event: the runner then reconnects and
    /// tries again instead of counting the event as poison.
    fn is_transient(error: &HandlerError) -> bool;
}

/// Maps a connection type named in a handler's signature to its read store, so a projection's
/// store follows from the signature alone.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a read-model connection",
    note = "projection handlers take `&mut chronicle::Sql` (every SQL engine), `&mut chronicle::sqlx::PgConnection`, `&mut chronicle::sqlx::SqliteConnection`, `&mut chronicle::sqlx::MySqlConnection` or `&mut chronicle::RedisWrites`"
)]
pub trait ReadConnection: Send + 'static {
    /// The read store whose transactions hand out this connection.
    type Store: ReadStore<Connection = Self>;
}
