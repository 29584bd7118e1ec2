//! Which broker the example runs over, and the one configuration both services share: the names
//! on the broker. Configuration is code.

use chronicle::{NatsPublisher, NatsSubscriber, RabbitMqPublisher, RabbitMqSubscriber};

/// The broker named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    /// RabbitMQ at `RABBITMQ_URL`, or `amqp://guest:guest@127.0.0.1:5672/%2f`.
    RabbitMq,
    /// NATS JetStream at `NATS_URL`, or `127.0.0.1:4222`.
    Nats,
}

impl Broker {
    /// `rabbitmq` or `nats`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "rabbitmq" => Some(Self::RabbitMq),
            "nats" => Some(Self::Nats),
            _ => None,
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::RabbitMq => "rabbitmq",
            Self::Nats => "nats",
        }
    }
}

// ANCHOR: config
/// The orders service's exchange on RabbitMQ, and its stream and subjects on JetStream.
pub const EXCHANGE: &str = "shop.events";
pub const STREAM: &str = "SHOP";
pub const SUBJECT_PREFIX: &str = "shop";

pub fn rabbitmq_url() -> String {
    std::env::var("RABBITMQ_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".into())
}

/// What the orders service publishes through.
pub fn rabbitmq_publisher() -> RabbitMqPublisher {
    RabbitMqPublisher::new(rabbitmq_url()).exchange(EXCHANGE)
}

pub fn nats_publisher() -> NatsPublisher {
    NatsPublisher::new(nats_url())
        .stream(STREAM)
        .subject_prefix(SUBJECT_PREFIX)
}

/// What the shipping service subscribes with: the same names.
pub fn rabbitmq_subscriber() -> RabbitMqSubscriber {
    RabbitMqSubscriber::new(rabbitmq_url()).exchange(EXCHANGE)
}

pub fn nats_subscriber() -> NatsSubscriber {
    NatsSubscriber::new(nats_url())
        .stream(STREAM)
        .subject_prefix(SUBJECT_PREFIX)
}
// ANCHOR_END: config
