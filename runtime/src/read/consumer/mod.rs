//! Consumers: a projection fed from a message broker instead of the event table, in a service
//! that has no access to the event store, applying each event exactly once.
//!
//! [`Consumer`] is the builder; [`spawn`](Consumer::spawn) starts the worker loop (`worker.rs`)
//! and returns a [`ConsumerHandle`] (`handle.rs`). Messages are applied with the record of what
//! was applied in one read-store transaction in `apply.rs`; `wait.rs` is read-your-writes by a
//! command's receipt; `error.rs` what goes wrong and the poison policy.

mod apply;
mod error;
mod handle;
mod wait;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

pub use self::error::{ConsumerError, OnPoisonMessage, PoisonMessage};
use self::handle::Shared;
pub use self::handle::{wait_for_consumer, ConsumerExit, ConsumerHandle, ConsumerStatus};
use self::worker::{Config, Worker};
use crate::core::projection::Projection;
use crate::core::subscribe::Subscriber;
use crate::read::runner::{RetryPolicy, DEFAULT_LEASE};

/// Messages applied in one transaction at most, unless [`Consumer::batch_size`] says otherwise;
/// also how many the broker hands over ahead of acknowledgements.
pub const DEFAULT_CONSUMER_BATCH: u16 = 200;

/// Keeps a projection's read model up to date from a broker: a builder, then
/// [`spawn`](Self::spawn).
///
/// ```ignore
/// let handle = Consumer::new(RabbitMqSubscriber::new(uri), shipping_store, Shipments)
///     .on_poison(OnPoisonMessage::DeadLetter)
///     .spawn();
/// handle.wait_for(&receipt, Duration::from_secs(5)).await?; // the remote view shows it
/// ```
///
/// The consumer subscribes under its name (the projection's, unless [`name`](Self::name) says
/// otherwise) to the event types its projection handles, and applies what arrives in the
/// broker's order. **Exactly once:** for every stream, the read store keeps the version of the
/// last event applied (`chronicle_consumed_streams`), written in the transaction that applies
/// the event, and the message is acknowledged only after that commit. A message at or below its
/// stream's recorded version (a redelivery after a crash, a relay's re-publish) is acknowledged
/// without being applied; a higher one is applied, so a view never goes back in a stream.
/// Versions may skip: events of types the consumer does not receive lie between.
///
/// Per-stream versions rather than event ids, because they cost one row per stream instead of
/// one per event forever, and they also refuse an *older* event that arrives after a newer one.
/// Brokers do not reorder what one consumer receives: RabbitMQ puts unacknowledged messages
/// back in their place, and the JetStream subscription resumes from the read store's own record
/// of the last stream sequence applied, so older redeliveries cannot overtake newer messages.
///
/// **One active consumer per name**, across processes, by the same lease as projection runners
/// (and RabbitMQ's single-active-consumer queues): the others stand by. A read store or broker
/// that goes away is retried with pauses of up to a second, for as long as it takes; a message
/// whose handler keeps failing is retried per [`retry`](Self::retry), then handled per
/// [`on_poison`](Self::on_poison).
///
/// **A new version** of the projection rebuilds the read model: its `#[reset]` empties it and the
/// subscription starts again from the broker's first message, which only a broker that keeps
/// history can do (JetStream); on RabbitMQ it fails with [`ConsumerError::CannotRebuild`].
pub struct Consumer<P: Projection, B> {
    name: &'static str,
    subscriber: B,
    store: P::Store,
    projection: Arc<P>,
    config: Config,
}

impl<P: Projection, B: Subscriber> fmt::Debug for Consumer<P, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.name)
            .field("broker", &self.subscriber.broker())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<P: Projection, B: Subscriber> Consumer<P, B> {
    /// A consumer of `projection`, writing its read model to `store`, fed by `subscriber`.
    pub fn new(subscriber: B, store: P::Store, projection: P) -> Self {
        Self {
            name: projection.identity().name,
            subscriber,
            store,
            projection: Arc::new(projection),
            config: Config {
                batch_size: DEFAULT_CONSUMER_BATCH,
                retry: RetryPolicy::default(),
                on_poison: OnPoisonMessage::default(),
                lease: DEFAULT_LEASE,
            },
        }
    }

    /// The name the subscription, the read store's records and the lease are kept under; the
    /// projection's name unless set. A RabbitMQ queue and a JetStream durable consumer of this
    /// name are created if missing.
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// How many messages are applied in one transaction at most, and handed over by the
    /// broker ahead of acknowledgements (at least 1).
    pub fn batch_size(mut self, batch_size: u16) -> Self {
        self.config.batch_size = batch_size.max(1);
        self
    }

    /// How a failing message is tried again before it counts as poison.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.config.retry = retry;
        self
    }

    /// What happens to a poison message (stop, the default).
    pub fn on_poison(mut self, on_poison: OnPoisonMessage) -> Self {
        self.config.on_poison = on_poison;
        self
    }

    /// How long the claim on the name lasts without renewal, on read stores whose claim is not
    /// tied to a connection (SQLite).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// Starts the consumer on the current tokio runtime.
    pub fn spawn(self) -> ConsumerHandle<P> {
        let shared = Arc::new(Shared::new());
        let (stop, stop_receiver) = watch::channel(false);
        let broker = self.subscriber.broker();
        let owner = Uuid::new_v4();
        let span = tracing::info_span!("consumer", consumer = self.name, %broker, %owner);
        let worker = Worker {
            name: self.name,
            broker: broker.clone(),
            subscriber: self.subscriber,
            store: self.store.clone(),
            projection: self.projection.clone(),
            config: self.config,
            shared: shared.clone(),
            stop: stop_receiver,
            owner,
        };
        let task = tokio::spawn(worker.run().instrument(span));
        ConsumerHandle {
            name: self.name,
            broker,
            shared,
            stop,
            task,
            store: self.store,
            projection: self.projection,
        }
    }
}
