//! One partition of a projection as an ordinary runner's projection, and the settings every
//! partition's runner is built with.

use std::sync::Arc;
use std::time::Duration;

use crate::core::error::HandlerError;
use crate::core::future::BoxFuture;
use crate::core::partition::Partition;
use crate::core::projection::{BatchFailure, Identity, Projection};
use crate::core::read_store::ReadStore;
use crate::core::store::RecordedEvent;
use crate::read::runner::{OnPoison, RetryPolicy};

/// What every partition's runner is built with.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) batch_size: usize,
    pub(crate) poll_interval: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) on_poison: OnPoison,
    pub(crate) lease: Duration,
}

/// One partition of a projection, as its runner sees it: the projection's handlers, its own
/// name and the partition of the log it reads. Its reset does nothing: the read model is reset
/// once, for all partitions, by the worker that sets a new layout up.
pub(crate) struct PartitionOf<P> {
    pub(crate) inner: Arc<P>,
    pub(crate) name: &'static str,
    pub(crate) partition: Partition,
}

impl<P: Projection> Projection for PartitionOf<P> {
    const NAME: &'static str = P::NAME;
    const VERSION: u32 = P::VERSION;
    const EVENT_TYPES: &'static [&'static str] = P::EVENT_TYPES;
    // A partition whose checkpoint has another version was not set up by this layout: fail
    // loudly rather than replay one partition over the others' rows.
    const HAS_RESET: bool = false;
    type Store = P::Store;

    fn identity(&self) -> Identity<'_> {
        Identity {
            name: self.name,
            partition: Some(self.partition),
            ..self.inner.identity()
        }
    }

    fn apply<'a>(
        &'a self,
        event: &'a RecordedEvent,
        connection: &'a mut <P::Store as ReadStore>::Connection,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        self.inner.apply(event, connection)
    }

    fn apply_batch<'a>(
        &'a self,
        events: &'a [RecordedEvent],
        connection: &'a mut <P::Store as ReadStore>::Connection,
    ) -> BoxFuture<'a, Result<(), BatchFailure>> {
        self.inner.apply_batch(events, connection)
    }

    fn prepare<'a>(&'a self, events: &'a [RecordedEvent]) -> BoxFuture<'a, Result<(), BatchFailure>> {
        self.inner.prepare(events)
    }

    fn reset<'a>(
        &'a self,
        _connection: &'a mut <P::Store as ReadStore>::Connection,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
