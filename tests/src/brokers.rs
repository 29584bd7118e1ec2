//! The real brokers the relay tests publish to, and raw clients that read back what arrived.
//!
//! RabbitMQ is `CHRONICLE_TEST_RABBITMQ_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`),
//! NATS `CHRONICLE_TEST_NATS_URL` (default `127.0.0.1:4222`). Every test works on exchanges,
//! queues, streams and subjects of its own names, so tests run in parallel; a test that stops a
//! server starts a [`ThrowawayNats`] or [`ThrowawayRabbit`] of its own. A broker that cannot be reached fails the tests.

use std::collections::HashMap;
use std::time::Duration;

use chronicle::message::header;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};

/// The RabbitMQ the tests use.
pub fn rabbitmq_url() -> String {
    std::env::var("CHRONICLE_TEST_RABBITMQ_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The NATS server the tests use.
pub fn nats_address() -> String {
    std::env::var("CHRONICLE_TEST_NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".to_owned())
}

/// A name no other test uses: `<prefix>_<random>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A message as a test reads it back: its headers as text, its body, and where it was routed.
#[derive(Debug, Clone)]
pub struct Received {
    /// The routing key (RabbitMQ) or subject (NATS).
    pub topic: String,
    /// The broker's message id.
    pub message_id: Option<String>,
    /// Chronicle's headers, by name.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
    /// Whether the message is persistent (RabbitMQ's delivery mode 2); `true` on NATS.
    pub persistent: bool,
    /// Its content type, when the broker has one.
    pub content_type: Option<String>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("message without header `{name}`: {self:?}"))
    }

    /// The event read back from it.
    pub fn event(&self) -> chronicle::RecordedEvent {
        chronicle::message::event_from(|name| self.headers.get(name).cloned(), &self.body)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// The event's position header.
    pub fn position(&self) -> u64 {
        self.header(header::POSITION).parse().expect("a position")
    }
}

/// A connection to the test RabbitMQ and a channel on it.
pub struct Rabbit {
    _connection: Connection,
    /// The channel.
    pub channel: Channel,
}

impl Rabbit {
    /// Connects to the test RabbitMQ, failing the test with what to do when it is not running.
    pub async fn connect() -> Self {
        Self::connect_to(&rabbitmq_url()).await
    }

    /// Connects to the RabbitMQ at `url`.
    pub async fn connect_to(url: &str) -> Self {
        let properties = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio);
        let connection = Connection::connect(url, properties).await.unwrap_or_else(|error| {
            panic!("cannot reach the test RabbitMQ at {url}: {error}\nstart it: /etc/init.d/rabbitmq-server start")
        });
        let channel = connection.create_channel().await.expect("a channel");
        Self {
            _connection: connection,
            channel,
        }
    }

    /// Declares a queue of its own bound to `exchange` with `pattern`, auto-deleted when this
    /// connection closes. The exchange must exist (a publisher's `connect` declares it).
    pub async fn bound_queue(&self, exchange: &str, pattern: &str) -> String {
        self.queue(exchange, pattern, false).await
    }

    /// Declares a durable queue of its own, which outlives this connection and the broker's
    /// restarts, bound to `exchange` with `pattern`.
    pub async fn durable_queue(&self, exchange: &str, pattern: &str) -> String {
        self.queue(exchange, pattern, true).await
    }

    async fn queue(&self, exchange: &str, pattern: &str, durable: bool) -> String {
        let queue = unique("q");
        let options = QueueDeclareOptions {
            durable,
            auto_delete: !durable,
            ..QueueDeclareOptions::default()
        };
        self.channel
            .queue_declare(&queue, options, FieldTable::default())
            .await
            .expect("declare a queue");
        self.channel
            .queue_bind(
                &queue,
                exchange,
                pattern,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind the queue");
        queue
    }

    /// Takes the next message off `queue`, if one is there now, and acknowledges it.
    pub async fn take(&self, queue: &str) -> Option<Received> {
        let message = self
            .channel
            .basic_get(queue, BasicGetOptions::default())
            .await
            .expect("basic.get")?;
        let delivery = message.delivery;
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        let properties = &delivery.properties;
        let mut headers = HashMap::new();
        if let Some(table) = properties.headers() {
            for (name, value) in table.inner() {
                if let AMQPValue::LongString(text) = value {
                    headers.insert(
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(text.as_bytes()).into_owned(),
                    );
                }
            }
        }
        Some(Received {
            topic: delivery.routing_key.as_str().to_owned(),
            message_id: properties.message_id().as_ref().map(|id| id.as_str().to_owned()),
            headers,
            body: delivery.data.clone(),
            persistent: *properties.delivery_mode() == Some(2),
            content_type: properties.content_type().as_ref().map(|t| t.as_str().to_owned()),
        })
    }

    /// Takes messages off `queue` until `count` have arrived, within the deadline.
    pub async fn take_n(&self, queue: &str, count: usize, deadline: Duration) -> Vec<Received> {
        let started = std::time::Instant::now();
        let mut received = Vec::new();
        loop {
            while let Some(message) = self.take(queue).await {
                received.push(message);
            }
            if received.len() >= count {
                return received;
            }
            assert!(
                started.elapsed() < deadline,
                "only {} of {count} messages on {queue} after {deadline:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Every message now in the JetStream stream `stream`, in stream order, read with an ephemeral
/// consumer.
pub async fn nats_stream_messages(address: &str, stream: &str) -> Vec<Received> {
    let client = async_nats::connect(address)
        .await
        .unwrap_or_else(|error| panic!("cannot reach NATS at {address}: {error}"));
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(stream).await.expect("the stream exists");
    let total = stream.info().await.expect("stream info").state.messages;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("an ephemeral consumer");
    let mut messages = consumer
        .fetch()
        .max_messages(usize::try_from(total).expect("a count").max(1))
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .expect("fetch");
    let mut received = Vec::new();
    while received.len() < usize::try_from(total).expect("a count") {
        let Some(message) = messages.next().await else {
            break;
        };
        let message = message.expect("a message");
        let mut headers = HashMap::new();
        if let Some(map) = &message.headers {
            for (name, values) in map.iter() {
                if let Some(value) = values.first() {
                    headers.insert(name.to_string(), value.as_str().to_owned());
                }
            }
        }
        received.push(Received {
            topic: message.subject.to_string(),
            message_id: headers.get("Nats-Msg-Id").cloned(),
            headers,
            body: message.payload.to_vec(),
            persistent: true,
            content_type: None,
        });
    }
    received
}

pub use crate::throwaway_brokers::{ThrowawayNats, ThrowawayRabbit};
