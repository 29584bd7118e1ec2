//! The NATS JetStream integration: publishing the log to a stream ([`NatsPublisher`]), and
//! consumers' durable pull consumers of it ([`NatsSubscriber`]).
//!
//! Where things are: `publisher.rs` the relay's publisher (connection, acknowledgements) and
//! the stream both sides make sure of; `subscriber.rs` the subscriber (filters, resuming from
//! the read store's sequence, acknowledgements). The message format itself is the model's
//! (`core/message.rs`).

mod publisher;
mod subscriber;

pub use self::publisher::NatsPublisher;
pub use self::subscriber::{NatsSubscriber, NatsSubscription};
