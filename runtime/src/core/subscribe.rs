//! Consuming events from a message broker: the seam a [`Consumer`](crate::Consumer) reads
//! through. RabbitMQ and NATS JetStream implement it in their backends; another broker is one
//! more implementation.
//!
//! A [`Subscriber`] opens a [`Subscription`] for one consumer name: the broker keeps what the
//! consumer has not acknowledged (a durable queue, a durable JetStream consumer) and hands it
//! over in the order it was published, one message to one consumer at a time.

use super::error::BoxError;
use super::future::BoxFuture;
use super::message::MessageError;
use super::store::RecordedEvent;

/// A broker a consumer can subscribe to.
pub trait Subscriber: Send + Sync + 'static {
    /// The subscription it opens.
    type Subscription: Subscription;

    /// The broker and its address, for errors and logs (`RabbitMQ at 127.0.0.1:5672`).
    fn broker(&self) -> String;

    /// Whether the broker keeps messages a subscription has already acknowledged, so that a
    /// subscription opened with [`SubscriptionSpec::after_sequence`] 0 is handed every message
    /// published since the broker's history starts (a JetStream stream), not only those published
    /// after it was first opened (a RabbitMQ queue). Only such a broker can rebuild a read model.
    fn keeps_history(&self) -> bool;

    /// Opens (creating at the broker if missing) the subscription `spec` describes.
    fn subscribe<'a>(
        &'a self,
        spec: SubscriptionSpec<'a>,
    ) -> BoxFuture<'a, Result<Self::Subscription, SubscribeError>>;
}

/// What a subscription receives, and where it starts.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionSpec<'a> {
    /// The consumer's name: the broker keeps the subscription under it (queue, durable name).
    pub consumer: &'a str,
    /// The stored names of the event types to receive; every event when empty.
    pub event_types: &'a [&'static str],
    /// The broker sequence of the last message the consumer applied (0: none), on brokers that
    /// number messages ([`Delivery::sequence`]): the subscription resumes after it, whatever
    /// the broker remembers of earlier deliveries. Ignored by brokers without sequences.
    pub after_sequence: u64,
    /// How many messages the broker may hand over before the first of them is acknowledged.
    pub prefetch: u16,
}

/// One message as the broker delivered it.
#[derive(Debug)]
pub struct Delivery {
    /// The event it carries, or why it could not be read back as one.
    pub event: Result<RecordedEvent, MessageError>,
    /// The broker's sequence number for the message (a JetStream stream sequence), 0 on brokers
    /// without one: what [`SubscriptionSpec::after_sequence`] resumes after.
    pub sequence: u64,
    /// Whether the broker says it delivered the message before.
    pub redelivered: bool,
    /// The subscription's handle on the message, for acknowledging or rejecting it.
    pub tag: u64,
}

/// A subscription of one consumer: messages in the broker's order, acknowledged once applied.
///
/// A message that is neither acknowledged nor rejected is delivered again (to this consumer or
/// the next one) once the subscription is dropped.
pub trait Subscription: Send + 'static {
    /// Waits for the next message; up to `max` messages that have already arrived come with it.
    fn receive(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<Delivery>, SubscribeError>>;

    /// Tells the broker these messages are done with: it never delivers them again.
    fn acknowledge<'a>(&'a mut self, deliveries: &'a [Delivery])
        -> BoxFuture<'a, Result<(), SubscribeError>>;

    /// Hands a message the consumer cannot apply to the broker's own dead-letter route (a
    /// RabbitMQ dead-letter exchange; JetStream terminates it, and it stays in the stream).
    fn reject<'a>(&'a mut self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), SubscribeError>>;

    /// How many messages wait at the broker for this subscription, not yet handed over.
    fn backlog(&mut self) -> BoxFuture<'_, Result<u64, SubscribeError>>;
}

/// Why a subscription could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The broker cannot be reached, went away, or did not answer in time: tried again, with
    /// pauses, until it answers.
    #[error("{broker} is unavailable: {source}")]
    Unavailable {
        /// The broker and its address.
        broker: String,
        /// What failed.
        #[source]
        source: BoxError,
    },
    /// The broker refused the subscription as asked (a queue declared before with other
    /// arguments, a name it does not allow): trying again cannot help.
    #[error("{broker} refused the subscription `{consumer}`: {reason}")]
    Refused {
        /// The broker and its address.
        broker: String,
        /// The consumer's name.
        consumer: String,
        /// What the broker said.
        reason: String,
    },
}

impl SubscribeError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// `broker` away, for `source`.
    pub fn unavailable(broker: String, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            broker,
            source: source.into(),
        }
    }
}
