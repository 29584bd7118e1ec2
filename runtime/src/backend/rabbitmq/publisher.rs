//! [`RabbitMqPublisher`]: events as persistent messages to a durable topic exchange, each
//! batch confirmed by the broker before the relay moves on.

use std::fmt;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;

use crate::core::error::BoxError;
use crate::core::future::BoxFuture;
use crate::core::message::Message;
use crate::core::publish::{PublishError, Publisher};
use crate::core::store::RecordedEvent;

/// AMQP's limit on a routing key (a short string).
const MAX_ROUTING_KEY: usize = 255;

/// Publishes events to RabbitMQ: a persistent message per event to a durable topic exchange
/// (declared if missing), routed by `<aggregate>.<event type>`
/// ([`topic`](crate::message::topic)), with `message_id` = the event id, content type
/// `application/json`, the payload as body and Chronicle's headers ([`header`](crate::message::header)).
/// A batch counts as published once the broker confirmed every message of it (publisher
/// confirms).
///
/// It connects on first use and again after any failure, so a relay started while RabbitMQ is
/// down simply retries; [`connect`](Self::connect) checks the broker at once instead.
///
/// A topic exchange keeps nothing for queues bound later: declare and bind a consumer's queue
/// before relying on the relay (a new service catches up from the event table, or from a
/// replay).
pub struct RabbitMqPublisher {
    uri: String,
    address: String,
    exchange: String,
    timeout: Duration,
    link: Mutex<Option<Link>>,
}

/// A connection and its channel in confirm mode.
struct Link {
    // Kept so that the connection lives as long as its channel; dropping it closes both.
    _connection: Connection,
    channel: Channel,
}

impl fmt::Debug for RabbitMqPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitMqPublisher")
            .field("address", &self.address)
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

impl RabbitMqPublisher {
    /// The exchange events are published to unless [`exchange`](Self::exchange) says otherwise.
    pub const DEFAULT_EXCHANGE: &'static str = "chronicle.events";
    /// How long connecting, and the broker's confirms of one batch, may take before the broker
    /// counts as unavailable, unless [`timeout`](Self::timeout) says otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A publisher to the broker at `uri` (`amqp://guest:guest@127.0.0.1:5672/%2f`), to the
    /// exchange [`DEFAULT_EXCHANGE`](Self::DEFAULT_EXCHANGE). Nothing is connected yet.
    pub fn new(uri: impl Into<String>) -> Self {
        let uri = uri.into();
        Self {
            address: address_of(&uri),
            uri,
            exchange: Self::DEFAULT_EXCHANGE.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
            link: Mutex::new(None),
        }
    }

    /// Publishes to `exchange` (a durable topic exchange, declared if missing).
    pub fn exchange(mut self, exchange: impl Into<String>) -> Self {
        self.exchange = exchange.into();
        self
    }

    /// How long connecting, and the confirms of one batch, may take. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// Connects now (declaring the exchange) instead of on first use: a clear error at start
    /// when the broker cannot be reached.
    pub async fn connect(&self) -> Result<(), PublishError> {
        let mut link = self.link.lock().await;
        if link.is_none() {
            *link = Some(self.open().await?);
        }
        Ok(())
    }

    fn unavailable(&self, source: impl Into<BoxError>) -> PublishError {
        PublishError::unavailable(self.broker(), source)
    }

    async fn open(&self) -> Result<Link, PublishError> {
        let connect = async {
            let connection = Connection::connect(&self.uri, connection_properties("chronicle-relay")).await?;
            let channel = connection.create_channel().await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            declare_events_exchange(&channel, &self.exchange).await?;
            Ok::<_, lapin::Error>(Link {
                _connection: connection,
                channel,
            })
        };
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(link)) => Ok(link),
            Ok(Err(error)) => Err(self.unavailable(error)),
            Err(_elapsed) => Err(self.unavailable(format!("no connection within {:?}", self.timeout))),
        }
    }

    /// Sends every message, then waits for every confirm, in order.
    async fn send(&self, channel: &Channel, events: &[RecordedEvent]) -> Result<(), PublishError> {
        let mut confirms = Vec::with_capacity(events.len());
        for event in events {
            let message = Message::of(event);
            if message.topic.len() > MAX_ROUTING_KEY {
                return Err(PublishError::unpublishable(
                    self.broker(),
                    event,
                    format!(
                        "its routing key is {} bytes, over AMQP's {MAX_ROUTING_KEY}",
                        message.topic.len()
                    ),
                ));
            }
            let mut headers = FieldTable::default();
            for (name, value) in &message.headers {
                headers.insert(
                    ShortString::from(*name),
                    AMQPValue::LongString(LongString::from(value.as_bytes())),
                );
            }
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(ShortString::from(event.event_id.to_string()))
                .with_content_type(ShortString::from("application/json"))
                .with_timestamp(u64::try_from(event.recorded_at.timestamp()).unwrap_or(0))
                .with_headers(headers);
            let confirm = channel
                .basic_publish(
                    &self.exchange,
                    &message.topic,
                    BasicPublishOptions::default(),
                    message.body(),
                    properties,
                )
                .await
                .map_err(|error| self.unavailable(error))?;
            confirms.push((event, confirm));
        }
        for (event, confirm) in confirms {
            match confirm.await.map_err(|error| self.unavailable(error))? {
                Confirmation::Ack(_) => {}
                Confirmation::Nack(_) => {
                    return Err(PublishError::Refused {
                        broker: self.broker(),
                        event_id: event.event_id,
                        position: event.position,
                        reason: "the broker answered with a negative confirm".to_owned(),
                    })
                }
                Confirmation::NotRequested => {
                    return Err(self.unavailable("the channel is not in confirm mode"));
                }
            }
        }
        Ok(())
    }
}

impl Publisher for RabbitMqPublisher {
    fn broker(&self) -> String {
        format!("RabbitMQ at {}", self.address)
    }

    fn publish<'a>(&'a self, events: &'a [RecordedEvent]) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let mut link = self.link.lock().await;
            let channel = match &*link {
                Some(open) => open.channel.clone(),
                None => {
                    let open = self.open().await?;
                    let channel = open.channel.clone();
                    *link = Some(open);
                    channel
                }
            };
            let sent = match tokio::time::timeout(self.timeout, self.send(&channel, events)).await {
                Ok(sent) => sent,
                Err(_elapsed) => Err(self.unavailable(format!(
                    "{} messages not confirmed within {:?}",
                    events.len(),
                    self.timeout
                ))),
            };
            if matches!(sent, Err(PublishError::Unavailable { .. })) {
                // The connection may be what failed: the next batch opens a new one.
                *link = None;
            }
            sent
        })
    }
}

/// The properties of a connection named `name` (as the broker's management lists it), on tokio.
pub(super) fn connection_properties(name: &str) -> ConnectionProperties {
    ConnectionProperties::default()
        .with_connection_name(name.into())
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio)
}

/// Declares the durable topic exchange events are published to (nothing happens when it exists
/// as such; the broker closes the channel with `PRECONDITION_FAILED` when it exists otherwise).
pub(super) async fn declare_events_exchange(channel: &Channel, exchange: &str) -> lapin::Result<()> {
    channel
        .exchange_declare(
            exchange,
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

/// Where `uri` points, without its credentials: `host:port`.
pub(super) fn address_of(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5672")
    }
}

#[cfg(test)]
mod tests {
    use super::address_of;

    #[test]
    fn the_address_leaves_the_password_out() {
        assert_eq!(
            address_of("amqp://guest:secret@127.0.0.1:5673/%2f"),
            "127.0.0.1:5673"
        );
        assert_eq!(address_of("amqp://localhost"), "localhost:5672");
    }
}
