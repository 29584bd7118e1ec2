//! The NATS JetStream integration: publishing the log to a stream ([`NatsPublisher`]).
//!
//! Where things are: `publisher.rs` the relay's publisher (connection, stream, acknowledgements).
//! The message format itself is the model's (`core/message.rs`).

mod publisher;

pub use self::publisher::NatsPublisher;
