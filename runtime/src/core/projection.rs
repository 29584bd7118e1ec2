//! Projections: read models built from the event stream.
//!
//! A [`Projection`] turns events into rows of a read model kept in a
//! [`ReadStore`](crate::ReadStore). A runner ([`ProjectionRunner`](crate::ProjectionRunner))
//! feeds it from an [`EventSource`](crate::EventSource) in batches, each applied in one
//! read-store transaction that also moves the projection's checkpoint.

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
