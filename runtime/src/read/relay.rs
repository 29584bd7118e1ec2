//! Relays: the log published to a message broker in the order projections read it, at least
//! once, by a projection runner whose "read model" is the broker.
//!
//! A [`Relay`] is a [`Projection`] whose batch handler publishes the batch through a
//! [`Publisher`] and returns once the broker confirmed it; the runner then commits the relay's
//! checkpoint in its read store. Everything a runner does therefore holds for a relay: it reads
//! the gap-free order behind the visibility fence, one relay per name is active across processes
//! (the others stand by and take over from the checkpoint), and a crash between the broker's
//! confirm and the checkpoint's commit publishes that batch again: at least once, never at most.
//! A broker that is away is retried with pauses of up to a second for as long as it takes; an
//! event the broker can never carry is a poison event under the runner's [`OnPoison`](crate::OnPoison).

use std::fmt;
use std::marker::PhantomData;

use tracing::Instrument as _;

use crate::core::aggregate::aggregate_of;
use crate::core::error::HandlerError;
use crate::core::future::BoxFuture;
use crate::core::metrics::published;
use crate::core::projection::{BatchFailure, Identity, Projection};
use crate::core::publish::{PublishError, Publisher};
use crate::core::read_store::ReadStore;
use crate::core::store::RecordedEvent;

/// Publishes the event log to a broker; run it with a [`ProjectionRunner`](crate::ProjectionRunner):
///
/// ```ignore
/// let relay = Relay::new("orders-to-rabbitmq", RabbitMqPublisher::new(uri)).aggregates(["Order"]);
/// let handle = ProjectionRunner::new(event_store, checkpoint_store, relay).spawn();
/// handle.wait_for(receipt.position, Duration::from_secs(5)).await?; // published and confirmed
/// ```
///
/// `R` is the read store that keeps its checkpoint (a [`PostgresReadStore`](crate::PostgresReadStore)
/// beside the event store, say); the name must differ from every projection's in that store.
/// Its status and waits are its handle's ([`ProjectionHandle`](crate::ProjectionHandle)):
/// `position` there is the last event published and confirmed.
///
/// **Order.** Events are published in the subscription order: within a stream always in
/// stream-version order; across streams in the order their transactions became visible, which
/// is position order except that a transaction committing later than a newer one is published
/// after it. After a failure the relay publishes from its checkpoint again, so a consumer may see
/// a message again after later ones: it recognises what it applied (see the book).
///
/// **Metrics.** `chronicle_relay_events_published_total{relay}` counts the events the broker
/// confirmed; the relay's lag is its runner's, `chronicle_projection_lag_events` and
/// `chronicle_projection_lag_seconds` with the relay's name as `projection`.
pub struct Relay<B, R> {
    name: &'static str,
    publisher: B,
    event_types: Vec<&'static str>,
    aggregates: Vec<String>,
    _store: PhantomData<fn() -> R>,
}

impl<B: Publisher, R> fmt::Debug for Relay<B, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("name", &self.name)
            .field("broker", &self.publisher.broker())
            .field("event_types", &self.event_types)
            .field("aggregates", &self.aggregates)
            .finish()
    }
}

impl<B: Publisher, R: ReadStore> Relay<B, R> {
    /// A relay named `name` (its checkpoint's name) publishing every event through `publisher`.
    pub fn new(name: &'static str, publisher: B) -> Self {
        Self {
            name,
            publisher,
            event_types: Vec::new(),
            aggregates: Vec::new(),
            _store: PhantomData,
        }
    }

    /// Publishes only events of these stored type names (read so in the database: the others
    /// are not even fetched).
    pub fn event_types(mut self, event_types: impl IntoIterator<Item = &'static str>) -> Self {
        self.event_types = event_types.into_iter().collect();
        self
    }

    /// Publishes only events of streams of these aggregates (by [`Aggregate::NAME`](crate::Aggregate::NAME)).
    pub fn aggregates<S: Into<String>>(mut self, aggregates: impl IntoIterator<Item = S>) -> Self {
        self.aggregates = aggregates.into_iter().map(Into::into).collect();
        self
    }

    /// The publisher.
    pub fn publisher(&self) -> &B {
        &self.publisher
    }

    fn wanted(&self, event: &RecordedEvent) -> bool {
        if self.aggregates.is_empty() {
            return true;
        }
        let aggregate = aggregate_of(&event.stream_id);
        self.aggregates.iter().any(|wanted| wanted == aggregate)
    }

    async fn publish(&self, batch: &[RecordedEvent]) -> Result<(), BatchFailure> {
        let selected: Vec<RecordedEvent>;
        let events = if self.aggregates.is_empty() {
            batch
        } else {
            selected = batch.iter().filter(|event| self.wanted(event)).cloned().collect();
            &selected
        };
        if events.is_empty() {
            return Ok(());
        }
        let span = tracing::debug_span!(
            "chronicle.publish",
            events = events.len(),
            first_position = events.first().map(|e| e.position),
            last_position = events.last().map(|e| e.position),
            correlation_ids = %crate::read::spans::correlation_ids(events),
        );
        self.publisher
            .publish(events)
            .instrument(span)
            .await
            .map_err(|error| failure(batch, error))?;
        published(self.name, events.len());
        Ok(())
    }
}

/// The runner's view of a failed publish of (part of) `events`: the broker away is retried as a
/// store would be; an event it cannot carry is named, so that the poison policy applies to that
/// event alone.
fn failure(events: &[RecordedEvent], error: PublishError) -> BatchFailure {
    if error.is_transient() {
        return BatchFailure {
            first: 0,
            count: events.len(),
            error: HandlerError::unavailable(error),
        };
    }
    let index = match &error {
        PublishError::Unpublishable { event_id, .. } => {
            events.iter().position(|event| event.event_id == *event_id)
        }
        _ => None,
    };
    match index {
        Some(index) => BatchFailure::of_one(index, HandlerError::new(error)),
        None => BatchFailure {
            first: 0,
            count: events.len(),
            error: HandlerError::new(error),
        },
    }
}

impl<B: Publisher, R: ReadStore> Projection for Relay<B, R> {
    const NAME: &'static str = "chronicle.relay";
    const VERSION: u32 = 1;
    const EVENT_TYPES: &'static [&'static str] = &[];
    const HAS_RESET: bool = false;
    // Events are published as stored: `#[pii]` fields sealed, the key table never read.
    const REVEALS_PII: bool = false;
    type Store = R;

    fn identity(&self) -> Identity<'_> {
        Identity {
            name: self.name,
            version: Self::VERSION,
            event_types: &self.event_types,
            partition: None,
        }
    }

    fn apply<'a>(
        &'a self,
        event: &'a RecordedEvent,
        _connection: &'a mut R::Connection,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            self.publish(std::slice::from_ref(event))
                .await
                .map_err(|failure| failure.error)
        })
    }

    fn apply_batch<'a>(
        &'a self,
        events: &'a [RecordedEvent],
        _connection: &'a mut R::Connection,
    ) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(self.publish(events))
    }

    fn reset<'a>(&'a self, _connection: &'a mut R::Connection) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async { Ok(()) })
    }
}
