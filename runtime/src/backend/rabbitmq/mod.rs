//! The RabbitMQ integration: publishing the log to a topic exchange ([`RabbitMqPublisher`]).
//!
//! Where things are: `publisher.rs` the relay's publisher (connection, confirms, message
//! properties). The message format itself is the model's (`core/message.rs`).

mod publisher;

pub use self::publisher::RabbitMqPublisher;
