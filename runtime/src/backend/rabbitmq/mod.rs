//! The RabbitMQ integration: publishing the log to a topic exchange ([`RabbitMqPublisher`]), and
//! consumers' durable queues bound to it ([`RabbitMqSubscriber`]).
//!
//! Where things are: `publisher.rs` the relay's publisher (connection, confirms, message
//! properties), and what the subscriber shares with it (connection properties, the exchange,
//! the broker's address); `subscriber.rs` the subscriber (queues, bindings, dead letters,
//! acknowledgements). The message format itself is the model's (`core/message.rs`).

mod publisher;
mod subscriber;

pub use self::publisher::RabbitMqPublisher;
pub use self::subscriber::{RabbitMqSubscriber, RabbitMqSubscription};
