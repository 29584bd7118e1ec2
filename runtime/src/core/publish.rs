//! Publishing events to a message broker: the small seam a [`Relay`](crate::Relay) publishes
//! through. RabbitMQ and NATS JetStream implement it in their backends; an adapter for another
//! broker (Kafka) is one more implementation.

use super::error::BoxError;
use super::future::BoxFuture;
use super::store::RecordedEvent;

/// A broker the log can be published to.
///
/// [`publish`](Self::publish) hands over events in log order and returns once the broker has
/// confirmed every one of them (stored them durably). If it fails, the relay takes none of them
/// as published and hands them over again later: an implementation must be safe to call again
/// with events it may already have published (brokers deduplicate by message id where they
/// can; consumers recognise what they applied). It keeps its connection itself, reconnecting
/// on the next call after a failure.
pub trait Publisher: Send + Sync + 'static {
    /// The broker and its address, for errors and logs (`rabbitmq at 127.0.0.1:5672`).
    fn broker(&self) -> String;

    /// Publishes `events` in order; `Ok` once the broker confirmed them all.
    fn publish<'a>(&'a self, events: &'a [RecordedEvent]) -> BoxFuture<'a, Result<(), PublishError>>;
}

/// Why events could not be published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The broker cannot be reached, went away, or did not confirm in time: tried again, with
    /// pauses, until it answers.
    #[error("{broker} is unavailable: {source}")]
    Unavailable {
        /// The broker and its address.
        broker: String,
        /// What failed.
        #[source]
        source: BoxError,
    },
    /// The broker answered, but refused to take an event (a negative confirm): tried again.
    #[error("{broker} refused event {event_id} at position {position}: {reason}")]
    Refused {
        /// The broker and its address.
        broker: String,
        /// The event refused.
        event_id: uuid::Uuid,
        /// Its position in the log.
        position: u64,
        /// What the broker said.
        reason: String,
    },
    /// An event that cannot become a message of this broker (too large, a name it cannot carry):
    /// trying again cannot help, so the relay's poison policy applies to it.
    #[error(
        "event {event_id} (`{event_type}` at position {position}) cannot be published to {broker}: {reason}"
    )]
    Unpublishable {
        /// The broker and its address.
        broker: String,
        /// The event.
        event_id: uuid::Uuid,
        /// Its stored type.
        event_type: String,
        /// Its position in the log.
        position: u64,
        /// Why.
        reason: String,
    },
}

impl PublishError {
    /// Whether publishing again later may succeed (the broker away, or refusing for now).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Refused { .. })
    }

    /// `broker` away, for `source`.
    pub fn unavailable(broker: String, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            broker,
            source: source.into(),
        }
    }

    /// The error for `event` that this broker cannot carry.
    pub fn unpublishable(broker: String, event: &RecordedEvent, reason: impl Into<String>) -> Self {
        Self::Unpublishable {
            broker,
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            position: event.position,
            reason: reason.into(),
        }
    }
}
