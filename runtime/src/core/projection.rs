//! Projections: read models built from the event stream.
//!
//! A [`Projection`] turns events into rows of a read model kept in a
//! [`ReadStore`](crate::ReadStore). A runner ([`ProjectionRunner`](crate::ProjectionRunner))
//! feeds it from an [`EventSource`](crate::EventSource) in batches, each applied in one
//! read-store transaction that also moves the projection's checkpoint.

use std::time::Duration;

use super::error::HandlerError;
use super::future::BoxFuture;
use super::partition::Partition;
use super::read_store::ReadStore;
use super::store::RecordedEvent;

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
    /// Whether its runner opens the events' `#[pii]` fields before handing them over (with the
    /// key store, and redacting those of forgotten subjects). True but for a
    /// [`Relay`](crate::Relay), which publishes events as they are stored: sealed.
    const REVEALS_PII: bool = true;
    /// The store its read model lives in.
    type Store: ReadStore;

    /// What a runner knows it by. The constants above, unless the projection is configured at
    /// run time (a [`Relay`](crate::Relay) is named, and told what to publish, when it is made).
    fn identity(&self) -> Identity<'_> {
        Identity::of::<Self>()
    }

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

    /// Work done on a batch before its transaction begins, each time the batch is tried: what
    /// writes elsewhere than the read model (a process manager takes its steps here, appending to
    /// the event store; on an embedded SQLite file the read store's transaction would hold the
    /// file's one write lock those appends wait for). It must be idempotent: a batch whose commit
    /// fails is prepared again. A failure names its event like [`apply_batch`](Self::apply_batch)'s,
    /// and is retried and dead-lettered the same way. By default nothing is done.
    fn prepare<'a>(&'a self, events: &'a [RecordedEvent]) -> BoxFuture<'a, Result<(), BatchFailure>> {
        let _ = events;
        Box::pin(std::future::ready(Ok(())))
    }

    /// Work done on the clock rather than on an event, by the leading runner after each batch
    /// and each wake-up (a process manager fires its due deadlines here, outside any read-store
    /// transaction). Returns how soon it wants to run again, which shortens the runner's wait;
    /// `None` asks for nothing. A failure is logged and tried again at the next turn. By default
    /// nothing is done.
    fn tick(&self) -> BoxFuture<'_, Result<Option<Duration>, HandlerError>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Called when a runner of the projection becomes the leader, before its first batch (a
    /// process manager rebuilds its schedule of deadlines from the log then). By default nothing.
    fn on_lead(&self) {}
}

/// What a runner knows a projection by: the name its checkpoint is stored under, the version
/// of its read model's shape, and the stored names of the events it reads (all when empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'p> {
    /// The name its checkpoint, lease and dead letters are stored under.
    pub name: &'static str,
    /// The version of its read model's shape.
    pub version: u32,
    /// The stored names of the events it reads; every event when empty.
    pub event_types: &'p [&'static str],
    /// The partition of the log it reads, when it is one partition of a partitioned projection
    /// (see [`PartitionedRunner`](crate::PartitionedRunner)); the whole log when `None`.
    pub partition: Option<Partition>,
}

impl Identity<'static> {
    /// The identity `P`'s constants declare.
    pub fn of<P: Projection + ?Sized>() -> Self {
        Self {
            name: P::NAME,
            version: P::VERSION,
            event_types: P::EVENT_TYPES,
            partition: None,
        }
    }
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
