//! Projections: read models built from the event stream, and the stores they live in.
//!
//! A [`Projection`] turns events into rows of a read model. A [`ProjectionRunner`] feeds it from
//! an [`EventSource`](crate::EventSource): it catches up from the projection's checkpoint in
//! batches, then follows the log live, woken by appends. Each batch is applied in one read-store
//! transaction that also moves the checkpoint, fenced on its previous value, so a crash at any
//! point neither loses nor repeats an event.
//!
//! Read models live in a [`ReadStore`]: [`PostgresReadStore`] (the events' database, or another
//! one) or [`SqliteReadStore`] (an embedded file). Each keeps two tables of its own:
//!
//! - `chronicle_checkpoints(projection, version, transaction_id, position, updated_at)`: how far
//!   each projection got, and the [`Projection::VERSION`] it was built with;
//! - `chronicle_dead_letters(projection, position, transaction_id, event_id, stream_id,
//!   stream_version, event_type, error, recorded_at)`: events skipped under
//!   [`OnPoison::DeadLetter`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::BoxError;
use crate::store::RecordedEvent;
use crate::subscription::Checkpoint;

mod error;
#[cfg(feature = "postgres")]
mod postgres;
pub mod replay;
mod runner;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use self::error::{PoisonEvent, ProjectionError};
#[cfg(feature = "postgres")]
pub use self::postgres::PostgresReadStore;
pub use self::replay::{replay_until, ReplayError, Replayed, Until};
pub use self::runner::{
    OnPoison, ProjectionHandle, ProjectionRunner, ProjectionStatus, RetryPolicy, RunnerState,
    DEFAULT_BATCH_SIZE, DEFAULT_LEASE, DEFAULT_POLL_INTERVAL,
};
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteReadStore;

pub(crate) use self::runner::{status_of, wait_for_checkpoint};

/// A boxed future, as returned by generated projection and query code.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a projection handler (or query handler) failed; wraps the user's error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(#[source] pub BoxError);

impl HandlerError {
    /// Wraps any error.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }
}

/// A read model maintained from the event stream. Implemented by `#[projection]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Chronicle projection",
    note = "put `#[chronicle::projection]` on an `impl {Self}` block with async handler methods"
)]
pub trait Projection: Send + Sync + 'static {
    /// The projection's name; its checkpoint is stored under it.
    const NAME: &'static str;
    /// The version of the read model's shape; changing it rebuilds the read model from the start.
    const VERSION: u32;
    /// The stored names of the events it handles; only those are read from the store.
    const EVENT_TYPES: &'static [&'static str];
    /// Whether the projection has a `#[reset]` method that empties its read model.
    const HAS_RESET: bool;
    /// The store its read model lives in.
    type Store: ReadStore;

    /// Applies one event to the read model, inside the runner's transaction.
    fn apply<'a>(
        &'a self,
        event: &'a RecordedEvent,
        connection: &'a mut <Self::Store as ReadStore>::Connection,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;

    /// Applies a batch of events, in order, inside the runner's transaction. Generated code hands
    /// each run of consecutive events that a batch handler (`#[on]` taking `&[E]`) takes to that
    /// handler as one slice, and the other events to [`apply`](Self::apply) one at a time; this
    /// default applies them all one at a time.
    fn apply_batch<'a>(
        &'a self,
        events: &'a [RecordedEvent],
        connection: &'a mut <Self::Store as ReadStore>::Connection,
    ) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(apply_each(self, events, connection))
    }

    /// Empties the read model before a rebuild, inside the rebuild's transaction. Projections
    /// without a `#[reset]` method do nothing here.
    fn reset<'a>(
        &'a self,
        connection: &'a mut <Self::Store as ReadStore>::Connection,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;
}

/// Applies each event by itself with [`Projection::apply`], so that a failure names its event.
pub(crate) async fn apply_each<P: Projection + ?Sized>(
    projection: &P,
    events: &[RecordedEvent],
    connection: &mut <P::Store as ReadStore>::Connection,
) -> Result<(), BatchFailure> {
    for (index, event) in events.iter().enumerate() {
        projection
            .apply(event, &mut *connection)
            .await
            .map_err(|error| BatchFailure::of_one(index, error))?;
    }
    Ok(())
}

/// Which events of a batch a handler failed on: `count` events from index `first`, handed to it
/// together. A count of 1 names the event; a larger one says only that one of them failed, and
/// the runner applies them one at a time to find out which.
#[derive(Debug)]
pub struct BatchFailure {
    /// The index in the batch of the first event the failing handler was given.
    pub first: usize,
    /// How many events the failing handler was given.
    pub count: usize,
    /// The handler's error.
    pub error: HandlerError,
}

impl BatchFailure {
    /// The event at `index` failed, handled alone.
    pub fn of_one(index: usize, error: HandlerError) -> Self {
        Self {
            first: index,
            count: 1,
            error,
        }
    }
}

/// A projection's row in `chronicle_checkpoints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointRow {
    /// The [`Projection::VERSION`] the read model was built with.
    pub version: u32,
    /// How far the read model got: everything at or before it is applied.
    pub checkpoint: Checkpoint,
}

/// A row of `chronicle_dead_letters`: an event a projection skipped because its handler kept
/// failing (with [`OnPoison::DeadLetter`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The projection that skipped the event.
    pub projection: String,
    /// The event's global position.
    pub position: u64,
    /// The event's writing transaction (0 on stores that commit in order).
    pub transaction_id: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// The stream the event belongs to.
    pub stream_id: String,
    /// The event's version within its stream.
    pub stream_version: u64,
    /// The event's stored type name.
    pub event_type: String,
    /// The handler's error, with its causes.
    pub error: String,
    /// When the event was dead-lettered.
    pub recorded_at: DateTime<Utc>,
}

/// A store that holds read models and the checkpoints of the projections that write them.
///
/// Implemented by [`PostgresReadStore`] and [`SqliteReadStore`]. The methods besides
/// [`migrate`](Self::migrate) are what a [`ProjectionRunner`] needs: a dedicated connection,
/// leadership among runners of one projection, transactions, and the checkpoint and dead-letter
/// tables. Applications rarely call them.
pub trait ReadStore: Clone + Send + Sync + 'static {
    /// The connection projection handlers write with, inside the runner's transaction.
    type Connection: sqlx::Connection<Database = Self::Database> + Send + 'static;
    /// The sqlx database the connection belongs to.
    type Database: sqlx::Database<Connection = Self::Connection>;

    /// Creates `chronicle_checkpoints` and `chronicle_dead_letters` (and whatever else the store
    /// needs) if missing. Safe to run at every start, from several processes.
    fn migrate(&self) -> impl Future<Output = Result<(), ProjectionError>> + Send;

    /// Opens a connection for one runner, held for as long as the runner leads.
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, ProjectionError>> + Send;

    /// Begins a read-write transaction on a runner's connection.
    fn begin(
        connection: &mut Self::Connection,
    ) -> impl Future<Output = Result<sqlx::Transaction<'_, Self::Database>, ProjectionError>> + Send;

    /// Begins a transaction that cannot write (as far as the database can enforce it), for
    /// queries.
    fn begin_read_only(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Database>, ProjectionError>> + Send;

    /// Tries to become the one active runner of `projection`, on `connection`. `owner` names the
    /// runner; `lease` is how long the claim lasts without [`keep_lead`](Self::keep_lead) on
    /// stores whose claim is not tied to the connection.
    fn try_lead<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> impl Future<Output = Result<bool, ProjectionError>> + Send + 'a;

    /// Renews a claim taken with [`try_lead`](Self::try_lead); `false` when it was lost.
    fn keep_lead<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> impl Future<Output = Result<bool, ProjectionError>> + Send + 'a;

    /// Gives up a claim taken with [`try_lead`](Self::try_lead).
    fn release_lead<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        projection: &'a str,
        owner: Uuid,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'a;

    /// The checkpoint row of `projection`, read on `connection` (inside a transaction or not).
    fn load_checkpoint<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        projection: &'a str,
    ) -> impl Future<Output = Result<Option<CheckpointRow>, ProjectionError>> + Send + 'a;

    /// The checkpoint row of `projection`, read on a pooled connection.
    fn read_checkpoint<'a>(
        &'a self,
        projection: &'a str,
    ) -> impl Future<Output = Result<Option<CheckpointRow>, ProjectionError>> + Send + 'a;

    /// Moves the checkpoint of `projection` from `previous` (`None`: no row yet) to `next`, only
    /// if the row still holds `previous`. `false` when it did not: another runner moved it.
    fn save_checkpoint<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        projection: &'a str,
        previous: Option<CheckpointRow>,
        next: CheckpointRow,
    ) -> impl Future<Output = Result<bool, ProjectionError>> + Send + 'a;

    /// Records that `projection` skips `event` because of `error` (replacing an earlier record
    /// of the same event).
    fn record_dead_letter<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        projection: &'a str,
        event: &'a RecordedEvent,
        error: &'a str,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'a;

    /// The dead letters of `projection`, in subscription order.
    fn dead_letters<'a>(
        &'a self,
        projection: &'a str,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, ProjectionError>> + Send + 'a;
}

/// Maps a connection type named in a handler's signature to its read store, so a projection's
/// store follows from the signature alone.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a read-model connection",
    note = "projection handlers take `&mut chronicle::sqlx::PgConnection` or `&mut chronicle::sqlx::SqliteConnection`"
)]
pub trait ReadConnection: Send + 'static {
    /// The read store whose transactions hand out this connection.
    type Store: ReadStore<Connection = Self>;
}

/// Converts a checkpoint column pair read from SQL.
pub(crate) fn checkpoint_from_sql(
    projection: &str,
    version: i64,
    transaction_id: i64,
    position: i64,
) -> Result<CheckpointRow, ProjectionError> {
    let corrupt = |column: &str, value: i64| ProjectionError::Corrupt {
        table: "chronicle_checkpoints",
        detail: format!("projection `{projection}`: column `{column}` holds {value}, which is out of range"),
    };
    Ok(CheckpointRow {
        version: u32::try_from(version).map_err(|_| corrupt("version", version))?,
        checkpoint: Checkpoint {
            transaction_id: u64::try_from(transaction_id)
                .map_err(|_| corrupt("transaction_id", transaction_id))?,
            position: u64::try_from(position).map_err(|_| corrupt("position", position))?,
        },
    })
}

/// A checkpoint as the SQL `bigint` pair `(transaction_id, position)`.
pub(crate) fn checkpoint_to_sql(checkpoint: Checkpoint) -> Result<(i64, i64), ProjectionError> {
    let out_of_range = || ProjectionError::OutOfRange { checkpoint };
    Ok((
        i64::try_from(checkpoint.transaction_id).map_err(|_| out_of_range())?,
        i64::try_from(checkpoint.position).map_err(|_| out_of_range())?,
    ))
}

/// A dead letter row read from SQL.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dead_letter_from_sql(
    projection: String,
    position: i64,
    transaction_id: i64,
    event_id: Uuid,
    stream_id: String,
    stream_version: i64,
    event_type: String,
    error: String,
    recorded_at: DateTime<Utc>,
) -> Result<DeadLetter, ProjectionError> {
    let corrupt = |column: &str, value: i64| ProjectionError::Corrupt {
        table: "chronicle_dead_letters",
        detail: format!("event {event_id}: column `{column}` holds {value}, which is out of range"),
    };
    Ok(DeadLetter {
        position: u64::try_from(position).map_err(|_| corrupt("position", position))?,
        transaction_id: u64::try_from(transaction_id)
            .map_err(|_| corrupt("transaction_id", transaction_id))?,
        stream_version: u64::try_from(stream_version)
            .map_err(|_| corrupt("stream_version", stream_version))?,
        projection,
        event_id,
        stream_id,
        event_type,
        error,
        recorded_at,
    })
}

/// An error and its causes on one line, for logs, status and dead letters.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // `#[error("{0}")]` wrappers repeat their source's message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Checks a Postgres schema name the same way the event store does.
#[cfg(feature = "postgres")]
pub(crate) fn validate_schema(schema: &str) -> Result<(), ProjectionError> {
    if crate::store::postgres::is_valid_schema(schema) {
        Ok(())
    } else {
        Err(ProjectionError::InvalidSchema(schema.to_owned()))
    }
}
