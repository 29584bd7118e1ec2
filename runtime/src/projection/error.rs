//! What can go wrong on the read side.

use std::time::Duration;

use uuid::Uuid;

use super::HandlerError;
use crate::error::StoreError;
use crate::subscription::Checkpoint;

/// An error of a projection runner, of a read store, or of waiting for a read model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The read store failed (unreachable, or its database said no).
    #[error("read store error: {0}")]
    ReadStore(#[source] sqlx::Error),
    /// A row of one of Chronicle's read-store tables holds a value Chronicle could not have
    /// written.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong, and where.
        detail: String,
    },
    /// A checkpoint does not fit the read store's `bigint` columns.
    #[error("checkpoint {checkpoint:?} does not fit a bigint column")]
    OutOfRange {
        /// The checkpoint.
        checkpoint: Checkpoint,
    },
    /// A Postgres schema name that is not a plain lowercase identifier.
    #[error(
        "invalid Postgres schema name `{0}`: use 1 to 63 lowercase ASCII letters, digits and \
         underscores, not starting with a digit"
    )]
    InvalidSchema(String),
    /// A handler kept failing on an event and the runner stopped there
    /// ([`OnPoison::Stop`](super::OnPoison::Stop)). Nothing after the last committed batch was
    /// applied.
    #[error(transparent)]
    Poison(Box<PoisonEvent>),
    /// The stored read model was built by another [`Projection::VERSION`](super::Projection::VERSION)
    /// and the projection cannot empty it to rebuild.
    #[error(
        "projection `{projection}` changed version from {stored} to {current}, so its read model \
         must be rebuilt from the first event, but it has no `#[reset]` method to empty it: add one"
    )]
    VersionChanged {
        /// The projection.
        projection: &'static str,
        /// The version its stored read model was built with.
        stored: u32,
        /// The projection's version now.
        current: u32,
    },
    /// A rebuild was asked of a projection without a `#[reset]` method.
    #[error(
        "projection `{projection}` cannot be rebuilt: it has no `#[reset]` method to empty its read model"
    )]
    NoReset {
        /// The projection.
        projection: &'static str,
    },
    /// The projection's `#[reset]` method failed; nothing was reset.
    #[error("the `#[reset]` method of projection `{projection}` failed: {source}")]
    Reset {
        /// The projection.
        projection: &'static str,
        /// The method's error.
        #[source]
        source: HandlerError,
    },
    /// The read model did not reach the awaited event in time.
    #[error(
        "projection `{projection}` did not reach position {position} within {waited:?}: it is at \
         {checkpoint:?}, {lag_events} of its events behind"
    )]
    Timeout {
        /// The projection.
        projection: &'static str,
        /// The awaited global position.
        position: u64,
        /// The checkpoint of the awaited event.
        target: Checkpoint,
        /// The projection's checkpoint when the wait ended.
        checkpoint: Checkpoint,
        /// How many events of the projection's types it had yet to apply.
        lag_events: u64,
        /// How long it was waited for.
        waited: Duration,
    },
    /// No event is stored at the awaited position.
    #[error(
        "cannot wait for projection `{projection}` to reach position {position}: no event is stored there"
    )]
    UnknownPosition {
        /// The projection.
        projection: &'static str,
        /// The awaited position.
        position: u64,
    },
    /// A request only the active runner can serve went to a standby one.
    #[error("this runner of projection `{projection}` is on standby (another runner is active): ask the active one")]
    NotLeader {
        /// The projection.
        projection: &'static str,
    },
    /// The runner has stopped, so it cannot serve the request.
    #[error("the runner of projection `{projection}` has stopped")]
    Stopped {
        /// The projection.
        projection: &'static str,
    },
    /// A handler or the runner panicked.
    #[error("the runner of projection `{projection}` panicked: {message}")]
    Panicked {
        /// The projection.
        projection: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The test hook of [`ProjectionRunner::crash_before_commit`](super::ProjectionRunner::crash_before_commit)
    /// stopped the runner before it committed a batch, as a crash would.
    #[error("simulated crash of projection `{projection}` before committing the batch up to {checkpoint:?}")]
    SimulatedCrash {
        /// The projection.
        projection: &'static str,
        /// The checkpoint the uncommitted batch would have moved to.
        checkpoint: Checkpoint,
    },
}

/// The event a projection handler kept failing on.
#[derive(Debug, thiserror::Error)]
#[error(
    "projection `{projection}` failed {attempts} times on event at position {position} (stream \
     `{stream_id}` version {stream_version}, type `{event_type}`, id {event_id}): {source}"
)]
pub struct PoisonEvent {
    /// The projection.
    pub projection: &'static str,
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
    /// How many times the handler was tried.
    pub attempts: u32,
    /// The handler's last error.
    #[source]
    pub source: HandlerError,
}

impl ProjectionError {
    /// Whether waiting and trying again may help: the event store or the read store could not be
    /// reached, or the database asked to retry.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(StoreError::Unavailable(_)) => true,
            Self::ReadStore(e) => sqlx_transient(e),
            _ => false,
        }
    }
}

/// Whether a driver error passes with time: lost connections, pool exhaustion, a server going
/// down or up, SQLite's busy and locked, Postgres' serialization failures and deadlocks.
pub(crate) fn sqlx_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else { return false };
            #[cfg(feature = "sqlite")]
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Extended result codes whose primary code is BUSY (5) or LOCKED (6).
                return code
                    .parse::<i32>()
                    .is_ok_and(|number| matches!(number & 0xff, 5 | 6));
            }
            code.starts_with("08")
                || code.starts_with("57P0")
                || code == "53300"
                || code == "40001"
                || code == "40P01"
        }
        _ => false,
    }
}

/// Whether a handler's error comes from a transient driver failure rather than from the event.
pub(crate) fn handler_error_transient(error: &HandlerError) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error.0.as_ref());
    while let Some(e) = current {
        if let Some(sqlx_error) = e.downcast_ref::<sqlx::Error>() {
            if sqlx_transient(sqlx_error) {
                return true;
            }
        }
        current = e.source();
    }
    false
}
