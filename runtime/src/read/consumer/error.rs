//! What can go wrong with a consumer: its read store, its broker, a message it cannot apply, a
//! rebuild its broker cannot feed, a wait that ran out.

use std::time::Duration;

use crate::core::error::{BoxError, HandlerError};
use crate::core::message::MessageError;
use crate::core::read_store::ReadStoreError;
use crate::core::subscribe::SubscribeError;

/// An error of a [`Consumer`](crate::Consumer) or of waiting for its read model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The read store failed.
    #[error(transparent)]
    ReadStore(#[from] ReadStoreError),
    /// The broker failed, or refused the subscription.
    #[error(transparent)]
    Broker(#[from] SubscribeError),
    /// A message kept failing, or was not an event at all, and the consumer stopped there
    /// ([`OnPoisonMessage::Stop`]). It stays unacknowledged: the broker hands it to the next
    /// consumer of the name, so fixing the handler and restarting resumes with it.
    #[error(transparent)]
    Poison(Box<PoisonMessage>),
    /// The stored read model was built by another [`Projection::VERSION`](crate::Projection::VERSION)
    /// and the projection cannot empty it to rebuild.
    #[error(
        "consumer `{consumer}` changed version from {stored} to {current}, so its read model must be \
         rebuilt from the first event, but its projection has no `#[reset]` method to empty it: add one"
    )]
    VersionChanged {
        /// The consumer.
        consumer: &'static str,
        /// The version its stored read model was built with.
        stored: u32,
        /// The projection's version now.
        current: u32,
    },
    /// The stored read model was built by another version, and the broker keeps no history
    /// to rebuild it from (a RabbitMQ queue holds only what was not yet consumed).
    #[error(
        "consumer `{consumer}` changed version from {stored} to {current}, so its read model must be \
         rebuilt from the first event, but {broker} keeps no history: rebuild it from the event \
         store (a projection runner, or a new relay name publishing the log again), or keep the version"
    )]
    CannotRebuild {
        /// The consumer.
        consumer: &'static str,
        /// The broker.
        broker: String,
        /// The version its stored read model was built with.
        stored: u32,
        /// The projection's version now.
        current: u32,
    },
    /// The projection's `#[reset]` method failed; nothing was reset.
    #[error("the `#[reset]` method of consumer `{consumer}` failed: {source}")]
    Reset {
        /// The consumer.
        consumer: &'static str,
        /// The method's error.
        #[source]
        source: HandlerError,
    },
    /// The read model did not apply the awaited event in time.
    #[error(
        "consumer `{consumer}` did not apply stream `{stream_id}` up to version {version} within \
         {waited:?}: it has applied {}{}",
        reached.map_or_else(|| "none of that stream".to_owned(), |v| format!("up to version {v}")),
        last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
    )]
    Timeout {
        /// The consumer.
        consumer: String,
        /// The receipt's stream.
        stream_id: String,
        /// The receipt's stream version.
        version: u64,
        /// The stream's version the read model had applied.
        reached: Option<u64>,
        /// The last error met while waiting (a store that was away), if any.
        last_error: Option<String>,
        /// How long it was waited for.
        waited: Duration,
    },
    /// The consumer did not subscribe in time.
    #[error(
        "consumer `{consumer}` did not subscribe within {waited:?}{}",
        last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
    )]
    NotSubscribed {
        /// The consumer.
        consumer: &'static str,
        /// How long it was waited for.
        waited: Duration,
        /// The last error it met (a broker or read store away), if any.
        last_error: Option<String>,
    },
    /// A handler or the consumer panicked.
    #[error("consumer `{consumer}` panicked: {message}")]
    Panicked {
        /// The consumer.
        consumer: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The consumer has stopped.
    #[error("consumer `{consumer}` has stopped")]
    Stopped {
        /// The consumer.
        consumer: &'static str,
    },
}

impl ConsumerError {
    /// Whether waiting and trying again may help: the read store or the broker could not serve
    /// the request now.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::ReadStore(error) => error.is_transient(),
            Self::Broker(error) => error.is_transient(),
            _ => false,
        }
    }
}

/// What the consumer does with a message whose handler still fails after every retry, or that
/// is not a Chronicle event at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnPoisonMessage {
    /// Stop the consumer with [`ConsumerError::Poison`] naming the message, which stays
    /// unacknowledged at the broker.
    #[default]
    Stop,
    /// Record the event in the read store's `chronicle_dead_letters`, in the transaction that
    /// counts it as consumed, acknowledge it and go on. A message that is not an event at all has
    /// no place in the log to be recorded under: it goes to the broker's dead-letter route, as
    /// with [`Reject`](Self::Reject).
    DeadLetter,
    /// Hand the message to the broker's own dead-letter route (RabbitMQ: the queue's dead-letter
    /// exchange, into `<consumer>.dead-letters`; JetStream: terminated, and kept in the stream)
    /// and go on.
    Reject,
}

/// A message a consumer kept failing on, or could not read.
#[derive(Debug, thiserror::Error)]
#[error("consumer `{consumer}` failed {attempts} times on {what} from {broker}: {source}")]
pub struct PoisonMessage {
    /// The consumer.
    pub consumer: &'static str,
    /// The broker.
    pub broker: String,
    /// The message, named by what of it could be read: event id, type and version, and its
    /// stream and position when it is an event.
    pub what: String,
    /// How many times it was tried (1 for a message that is not an event, or does not decode:
    /// trying again cannot help).
    pub attempts: u32,
    /// The handler's last error, or why the message could not be read or decoded.
    #[source]
    pub source: BoxError,
}

impl PoisonMessage {
    /// What names a message that is not an event.
    pub(super) fn name_unreadable(error: &MessageError) -> String {
        let known = |value: &Option<String>| value.clone().unwrap_or_else(|| "unknown".to_owned());
        format!(
            "message {} (type {}, version {})",
            known(&error.event_id),
            known(&error.event_type),
            known(&error.event_version)
        )
    }
}
