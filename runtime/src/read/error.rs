//! What can go wrong on the read side.

use std::time::Duration;

use uuid::Uuid;

use chrono::Utc;

use crate::core::error::{error_chain, HandlerError, StoreError};
use crate::core::limits::storable_error;
use crate::core::read_store::{DeadLetter, ReadStoreError};
use crate::core::source::Checkpoint;
use crate::core::store::RecordedEvent;

/// An error of a projection runner, of a read store, or of waiting for a read model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The read store failed.
    #[error(transparent)]
    ReadStore(#[from] ReadStoreError),
    /// A handler kept failing on an event, or the event could not be read, and the runner
    /// stopped there ([`OnPoison::Stop`](crate::OnPoison::Stop)). Nothing after the last
    /// committed batch was applied.
    #[error(transparent)]
    Poison(Box<PoisonEvent>),
    /// The stored read model was built by another [`Projection::VERSION`](crate::Projection::VERSION)
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
    /// An unpartitioned runner was started for a projection whose read model is built in
    /// partitions (by [`PartitionedRunner`](crate::PartitionedRunner) workers), or the other
    /// way round would have mixed the two: applying its events twice.
    #[error(
        "projection `{projection}` is built in {partitions} partitions: run it with a          `PartitionedRunner` of {partitions} partitions (a different count rebuilds it)"
    )]
    Partitioned {
        /// The projection.
        projection: &'static str,
        /// How many partitions its read model is built with.
        partitions: u32,
    },
    /// Every worker slot of a partitioned projection is taken.
    #[error("projection `{projection}` already has {workers} workers, the most it can have")]
    TooManyWorkers {
        /// The projection.
        projection: &'static str,
        /// The most workers it can have.
        workers: u32,
    },
    /// The read model did not reach the awaited event in time.
    #[error("{}", timeout_message(self))]
    Timeout {
        /// The projection.
        projection: &'static str,
        /// The awaited global position.
        position: u64,
        /// How far through the log the read model got: the highest position it has applied or
        /// passed (`None` before the first event).
        reached: Option<u64>,
        /// Events of the projection's types that were ready and not yet applied.
        ready: u64,
        /// Events of its types that were committed but not yet safe to read, because an older
        /// transaction was still open.
        held_back: u64,
        /// What held them back, when known.
        held_back_by: Option<String>,
        /// The last error met while waiting (a store that was away), if any.
        last_error: Option<String>,
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
    /// A rebuild from another process ([`rebuild_detached`](crate::rebuild_detached)) found the
    /// read model built by another version than this code's: the deployment of this version
    /// rebuilds it when its runner starts, and a rebuild here would make the two take turns.
    #[error(
        "the read model of projection `{projection}` is version {stored}, this code's is {current}: \
         it is rebuilt by the runner of version {current} when it starts"
    )]
    OtherVersion {
        /// The projection.
        projection: &'static str,
        /// The version the read model was built with.
        stored: u32,
        /// The version of this code.
        current: u32,
    },
    /// A rebuild from another process found the checkpoint moved at every try: the runner kept
    /// committing between its read and its update.
    #[error("the checkpoint of projection `{projection}` kept moving under the rebuild: try again")]
    CheckpointMoving {
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
    /// Test seam: the hook of `ProjectionRunner::crash_before_commit` stopped the runner before
    /// it committed a batch, as a crash would. Not part of the API.
    #[doc(hidden)]
    #[error("simulated crash of projection `{projection}` before committing the batch up to {checkpoint:?}")]
    SimulatedCrash {
        /// The projection.
        projection: &'static str,
        /// The checkpoint the uncommitted batch would have moved to.
        checkpoint: Checkpoint,
    },
}

fn timeout_message(error: &ProjectionError) -> String {
    let ProjectionError::Timeout {
        projection,
        position,
        reached,
        ready,
        held_back,
        held_back_by,
        last_error,
        waited,
    } = error
    else {
        return String::new();
    };
    let mut text = format!("projection `{projection}` did not reach position {position} within {waited:?}: ");
    match reached {
        Some(reached) => text.push_str(&format!("it has applied the log up to position {reached}")),
        None => text.push_str("it has applied nothing yet"),
    }
    if *ready > 0 {
        text.push_str(&format!(
            "; {ready} of its events are ready and not yet applied (is its runner running?)"
        ));
    }
    if *held_back > 0 {
        text.push_str(&format!(
            "; {held_back} of its events are committed but held back until an older transaction ends"
        ));
        if let Some(holder) = held_back_by {
            text.push_str(&format!(" ({holder})"));
        }
    }
    if *ready == 0 && *held_back == 0 && reached.is_some_and(|reached| reached < *position) {
        text.push_str("; the awaited event is not yet safe to read");
    }
    if let Some(last_error) = last_error {
        text.push_str(&format!("; last error: {last_error}"));
    }
    text
}

/// The event a projection kept failing on, or could not read.
#[derive(Debug, thiserror::Error)]
#[error(
    "projection `{projection}` failed {attempts} times on event at position {position} (stream \
     `{stream_id}` version {stream_version}, type `{event_type}`{}): {source}",
    event_id.map(|id| format!(", id {id}")).unwrap_or_default()
)]
pub struct PoisonEvent {
    /// The projection.
    pub projection: &'static str,
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
    /// How many times the handler was tried (1 for an event that cannot be decoded or read:
    /// trying again cannot help).
    pub attempts: u32,
    /// The handler's last error, or why the event could not be read or decoded.
    #[source]
    pub source: HandlerError,
}

impl PoisonEvent {
    /// The poison event `event` is to `projection`, after `attempts` tries that ended in `source`.
    pub(crate) fn of(
        projection: &'static str,
        event: &RecordedEvent,
        attempts: u32,
        source: HandlerError,
    ) -> Self {
        Self {
            projection,
            position: event.position,
            transaction_id: event.transaction_id,
            event_id: Some(event.event_id),
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            attempts,
            source,
        }
    }

    /// The dead letter that keeps this event aside for `version` of the projection, its error
    /// the whole chain of this one, recorded now.
    pub(crate) fn dead_letter(&self, version: u32) -> DeadLetter {
        DeadLetter {
            projection: self.projection.to_owned(),
            version,
            position: self.position,
            transaction_id: self.transaction_id,
            event_id: self.event_id,
            stream_id: self.stream_id.clone(),
            stream_version: self.stream_version,
            event_type: self.event_type.clone(),
            error: storable_error(error_chain(self)),
            recorded_at: Utc::now(),
            retry_requested_at: None,
        }
    }
}

impl ProjectionError {
    /// Whether waiting and trying again may help: the event store or the read store could not
    /// serve the request now.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(error) => error.is_transient(),
            Self::ReadStore(error) => error.is_transient(),
            _ => false,
        }
    }
}
