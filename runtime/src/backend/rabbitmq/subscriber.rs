//! [`RabbitMqSubscriber`]: a consumer's durable queue bound to the events exchange, one active
//! consumer at a time, manual acknowledgements, rejected messages dead-lettered to a queue of
//! the consumer's own.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ErrorKind, ExchangeKind};

use super::publisher::{address_of, connection_properties, declare_events_exchange, RabbitMqPublisher};
use crate::core::error::BoxError;
use crate::core::future::BoxFuture;
use crate::core::message::{event_from, topic_part};
use crate::core::subscribe::{Delivery, SubscribeError, Subscriber, Subscription, SubscriptionSpec};

/// AMQP's limit on a queue name, an exchange name and a routing key (a short string).
const MAX_NAME: usize = 255;

/// What a consumer's dead-letter queue, and the events exchange's dead-letter exchange, are
/// named after: `<consumer>.dead-letters`, `<exchange>.dead-letters`.
const DEAD_LETTERS: &str = ".dead-letters";

/// Subscribes consumers to what a [`RabbitMqPublisher`] publishes.
///
/// A consumer named `name` reads the durable queue `name`, declared if missing with
/// `x-single-active-consumer` (while several processes subscribe, the broker hands messages to
/// one of them, the others taking over when it goes away) and bound to the events exchange with
/// the routing key `*.<event type>` ([`topic_part`](crate::message::topic_part)) for each
/// subscribed type, or `#` for every event. Bindings are only ever added: a consumer that
/// subscribes to fewer types than before still receives the others, until their bindings are
/// removed at the broker.
///
/// A message [rejected](Subscription::reject) goes, through the direct exchange
/// `<exchange>.dead-letters` (routed by the consumer's name, so consumers' dead letters do not
/// mix), to the durable queue `<name>.dead-letters`, where it stays until someone reads it.
///
/// A queue keeps only what is published after it is first declared, so the broker
/// [keeps no history](Subscriber::keeps_history); [`Delivery::sequence`] is always 0. Messages
/// neither acknowledged nor rejected when the subscription is dropped (its connection closes) go
/// back into the queue in their places and are delivered again, `redelivered`, in the queue's
/// order. A queue declared before with other arguments (without the dead-letter exchange, say)
/// is [refused](SubscribeError::Refused): delete it, or subscribe under another name.
pub struct RabbitMqSubscriber {
    uri: String,
    address: String,
    exchange: String,
    timeout: Duration,
}

impl fmt::Debug for RabbitMqSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitMqSubscriber")
            .field("address", &self.address)
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

impl RabbitMqSubscriber {
    /// The exchange subscribed to unless [`exchange`](Self::exchange) says otherwise: the one
    /// a [`RabbitMqPublisher`] publishes to by default.
    pub const DEFAULT_EXCHANGE: &'static str = RabbitMqPublisher::DEFAULT_EXCHANGE;
    /// How long subscribing, and each acknowledgement, rejection or backlog count, may take
    /// before the broker counts as unavailable, unless [`timeout`](Self::timeout) says
    /// otherwise. Waiting for messages is not bounded by it.
    pub const DEFAULT_TIMEOUT: Duration = RabbitMqPublisher::DEFAULT_TIMEOUT;

    /// A subscriber to the broker at `uri` (`amqp://guest:guest@127.0.0.1:5672/%2f`), to the
    /// exchange [`DEFAULT_EXCHANGE`](Self::DEFAULT_EXCHANGE). Nothing is connected yet: each
    /// subscription opens a connection of its own.
    pub fn new(uri: impl Into<String>) -> Self {
        let uri = uri.into();
        Self {
            address: address_of(&uri),
            uri,
            exchange: Self::DEFAULT_EXCHANGE.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Subscribes to `exchange` (a durable topic exchange, declared if missing), the one the
    /// publisher publishes to.
    pub fn exchange(mut self, exchange: impl Into<String>) -> Self {
        self.exchange = exchange.into();
        self
    }

    /// How long subscribing, and each acknowledgement, rejection or backlog count, may take.
    /// Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// The dead-letter exchange: `<exchange>.dead-letters`.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}{DEAD_LETTERS}", self.exchange)
    }

    /// The queue the messages `consumer` rejects land in: `<consumer>.dead-letters`.
    pub fn dead_letter_queue(consumer: &str) -> String {
        format!("{consumer}{DEAD_LETTERS}")
    }

    fn refused(&self, consumer: &str, reason: impl Into<String>) -> SubscribeError {
        SubscribeError::Refused {
            broker: self.broker(),
            consumer: consumer.to_owned(),
            reason: reason.into(),
        }
    }

    /// `error` of `doing` sorted: what the broker refuses as asked (`PRECONDITION_FAILED`, a
    /// name declared before otherwise; `ACCESS_REFUSED`, a name it reserves or the user may not
    /// use) is refused, anything else makes the broker unavailable.
    fn sort(&self, consumer: &str, doing: &str, error: lapin::Error) -> SubscribeError {
        if let ErrorKind::ProtocolError(amqp) = error.kind() {
            if matches!(
                amqp.kind(),
                AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED | AMQPSoftError::ACCESSREFUSED)
            ) {
                return self.refused(consumer, format!("{doing}: {}", amqp.get_message()));
            }
        }
        SubscribeError::unavailable(self.broker(), format!("{doing}: {error}"))
    }

    /// The names `spec` declares, checked against what AMQP carries.
    fn check(&self, spec: &SubscriptionSpec<'_>) -> Result<Vec<String>, SubscribeError> {
        let consumer = spec.consumer;
        if consumer.is_empty() {
            return Err(self.refused(consumer, "a queue needs a name"));
        }
        if consumer.starts_with("amq.") {
            return Err(self.refused(consumer, "queue names starting with `amq.` are the broker's"));
        }
        let longest = MAX_NAME - DEAD_LETTERS.len();
        if consumer.len() > longest {
            return Err(self.refused(
                consumer,
                format!(
                    "the name is {} bytes; with its dead-letter queue's `{DEAD_LETTERS}` it must fit AMQP's {MAX_NAME}",
                    consumer.len()
                ),
            ));
        }
        if self.exchange.len() > longest {
            return Err(self.refused(
                consumer,
                format!(
                    "the exchange name is {} bytes; with its dead-letter exchange's `{DEAD_LETTERS}` it must fit AMQP's {MAX_NAME}",
                    self.exchange.len()
                ),
            ));
        }
        if spec.event_types.is_empty() {
            return Ok(vec!["#".to_owned()]);
        }
        let mut keys = Vec::with_capacity(spec.event_types.len());
        for event_type in spec.event_types {
            let key = format!("*.{}", topic_part(event_type));
            if key.len() > MAX_NAME {
                return Err(self.refused(
                    consumer,
                    format!(
                        "the binding of `{event_type}` is {} bytes, over AMQP's {MAX_NAME}",
                        key.len()
                    ),
                ));
            }
            keys.push(key);
        }
        Ok(keys)
    }

    async fn open(
        &self,
        spec: SubscriptionSpec<'_>,
        keys: Vec<String>,
    ) -> Result<RabbitMqSubscription, SubscribeError> {
        let consumer = spec.consumer;
        let sort = |doing: &str| {
            let doing = doing.to_owned();
            move |error| self.sort(consumer, &doing, error)
        };
        let connection = Connection::connect(&self.uri, connection_properties("chronicle-consumer"))
            .await
            .map_err(|error| SubscribeError::unavailable(self.broker(), error))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(sort("opening a channel"))?;
        declare_events_exchange(&channel, &self.exchange)
            .await
            .map_err(sort(&format!("declaring the exchange `{}`", self.exchange)))?;
        let dead_letter_exchange = self.dead_letter_exchange();
        channel
            .exchange_declare(
                &dead_letter_exchange,
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(sort(&format!("declaring the exchange `{dead_letter_exchange}`")))?;
        let dead_letter_queue = Self::dead_letter_queue(consumer);
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(&dead_letter_queue, durable, FieldTable::default())
            .await
            .map_err(sort(&format!("declaring the queue `{dead_letter_queue}`")))?;
        channel
            .queue_bind(
                &dead_letter_queue,
                &dead_letter_exchange,
                consumer,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(sort(&format!("binding the queue `{dead_letter_queue}`")))?;
        let mut arguments = FieldTable::default();
        arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from(dead_letter_exchange.as_bytes())),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(consumer.as_bytes())),
        );
        channel
            .queue_declare(consumer, durable, arguments)
            .await
            .map_err(sort(&format!("declaring the queue `{consumer}`")))?;
        for key in &keys {
            channel
                .queue_bind(
                    consumer,
                    &self.exchange,
                    key,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(sort(&format!("binding the queue `{consumer}` with `{key}`")))?;
        }
        channel
            .basic_qos(spec.prefetch.max(1), BasicQosOptions::default())
            .await
            .map_err(sort("setting the prefetch"))?;
        let messages = channel
            .basic_consume(
                consumer,
                &format!("chronicle {consumer}"),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(sort(&format!("consuming from the queue `{consumer}`")))?;
        Ok(RabbitMqSubscription {
            broker: self.broker(),
            queue: consumer.to_owned(),
            timeout: self.timeout,
            _connection: connection,
            channel,
            messages,
            pending: BTreeSet::new(),
            broken: None,
        })
    }
}

impl Subscriber for RabbitMqSubscriber {
    type Subscription = RabbitMqSubscription;

    fn broker(&self) -> String {
        format!("RabbitMQ at {}", self.address)
    }

    fn keeps_history(&self) -> bool {
        false
    }

    fn subscribe<'a>(
        &'a self,
        spec: SubscriptionSpec<'a>,
    ) -> BoxFuture<'a, Result<Self::Subscription, SubscribeError>> {
        Box::pin(async move {
            let keys = self.check(&spec)?;
            match tokio::time::timeout(self.timeout, self.open(spec, keys)).await {
                Ok(opened) => opened,
                Err(_elapsed) => Err(SubscribeError::unavailable(
                    self.broker(),
                    format!("no subscription within {:?}", self.timeout),
                )),
            }
        })
    }
}

/// A consumer's subscription to its RabbitMQ queue: a connection and a channel of its own,
/// closed when it is dropped. [`Delivery::tag`] is the AMQP delivery tag.
///
/// [`receive`](Subscription::receive) may be dropped while it waits (raced against a timer):
/// once it has taken a message it no longer waits, so nothing it took is lost.
pub struct RabbitMqSubscription {
    broker: String,
    queue: String,
    timeout: Duration,
    // Kept so that the connection lives as long as its channel; dropping it closes both, and
    // the broker puts back what was not acknowledged.
    _connection: Connection,
    channel: Channel,
    messages: lapin::Consumer,
    /// The tags handed over and neither acknowledged nor rejected yet.
    pending: BTreeSet<u64>,
    /// Why the consumer ended, once it has: every later call fails with it.
    broken: Option<String>,
}

impl fmt::Debug for RabbitMqSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitMqSubscription")
            .field("broker", &self.broker)
            .field("queue", &self.queue)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl RabbitMqSubscription {
    fn unavailable(&self, source: impl Into<BoxError>) -> SubscribeError {
        SubscribeError::unavailable(self.broker.clone(), source)
    }

    fn check_open(&self) -> Result<(), SubscribeError> {
        match &self.broken {
            Some(why) => Err(self.unavailable(why.clone())),
            None => Ok(()),
        }
    }

    /// What the consumer yielded, as a delivery; `None` (and the subscription broken) when the
    /// consumer ended.
    fn take(&mut self, next: Option<lapin::Result<lapin::message::Delivery>>) -> Option<Delivery> {
        match next {
            Some(Ok(delivery)) => {
                self.pending.insert(delivery.delivery_tag);
                let headers = delivery.properties.headers().as_ref();
                let header = |name: &str| match headers?.inner().get(name)? {
                    AMQPValue::LongString(text) => String::from_utf8(text.as_bytes().to_vec()).ok(),
                    AMQPValue::ShortString(text) => Some(text.as_str().to_owned()),
                    _ => None,
                };
                Some(Delivery {
                    event: event_from(header, &delivery.data),
                    sequence: 0,
                    redelivered: delivery.redelivered,
                    tag: delivery.delivery_tag,
                })
            }
            Some(Err(error)) => {
                self.broken = Some(format!("the consumer of `{}` failed: {error}", self.queue));
                None
            }
            None => {
                self.broken = Some(format!(
                    "the consumer of `{}` was cancelled (the queue deleted?) or its channel closed",
                    self.queue
                ));
                None
            }
        }
    }

    /// Checks that every one of `tags` is pending; returns them sorted, without repeats.
    fn pending_tags(&self, tags: impl Iterator<Item = u64>) -> Result<Vec<u64>, SubscribeError> {
        let mut tags: Vec<u64> = tags.collect();
        tags.sort_unstable();
        tags.dedup();
        if let Some(tag) = tags.iter().find(|tag| !self.pending.contains(tag)) {
            return Err(self.unavailable(format!(
                "delivery {tag} is not pending on this subscription to `{}` (settled already, or \
                 handed over by another one)",
                self.queue
            )));
        }
        Ok(tags)
    }

    async fn bounded<T>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = lapin::Result<T>>,
    ) -> Result<T, SubscribeError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.unavailable(format!("{what} on `{}`: {error}", self.queue))),
            Err(_elapsed) => Err(self.unavailable(format!(
                "{what} on `{}` not done within {:?}",
                self.queue, self.timeout
            ))),
        }
    }
}

impl Subscription for RabbitMqSubscription {
    fn receive(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<Delivery>, SubscribeError>> {
        Box::pin(async move {
            self.check_open()?;
            let next = self.messages.next().await;
            let Some(first) = self.take(next) else {
                // The consumer ended: `take` said why.
                return self.check_open().map(|()| Vec::new());
            };
            let mut deliveries = vec![first];
            while deliveries.len() < max {
                // What the client has buffered already, without waiting.
                let Some(next) = self.messages.next().now_or_never() else {
                    break;
                };
                match self.take(next) {
                    Some(delivery) => deliveries.push(delivery),
                    // The error comes with the next call; these are handed over first.
                    None => break,
                }
            }
            Ok(deliveries)
        })
    }

    fn acknowledge<'a>(
        &'a mut self,
        deliveries: &'a [Delivery],
    ) -> BoxFuture<'a, Result<(), SubscribeError>> {
        Box::pin(async move {
            let tags = self.pending_tags(deliveries.iter().map(|delivery| delivery.tag))?;
            let Some(&highest) = tags.last() else {
                return Ok(());
            };
            let channel = self.channel.clone();
            if self.pending.range(..=highest).count() == tags.len() {
                // Everything pending up to the highest: one acknowledgement covers them all.
                let options = BasicAckOptions { multiple: true };
                self.bounded("acknowledging", channel.basic_ack(highest, options))
                    .await?;
            } else {
                let acks = join_all(
                    tags.iter()
                        .map(|&tag| channel.basic_ack(tag, BasicAckOptions::default())),
                );
                let acked = async { acks.await.into_iter().collect::<lapin::Result<Vec<()>>>() };
                self.bounded("acknowledging", acked).await?;
            }
            for tag in &tags {
                self.pending.remove(tag);
            }
            Ok(())
        })
    }

    fn reject<'a>(&'a mut self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), SubscribeError>> {
        Box::pin(async move {
            let tag = delivery.tag;
            self.pending_tags(std::iter::once(tag))?;
            let channel = self.channel.clone();
            let options = BasicRejectOptions { requeue: false };
            self.bounded("rejecting", channel.basic_reject(tag, options))
                .await?;
            self.pending.remove(&tag);
            Ok(())
        })
    }

    fn backlog(&mut self) -> BoxFuture<'_, Result<u64, SubscribeError>> {
        Box::pin(async move {
            self.check_open()?;
            let channel = self.channel.clone();
            let options = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let queue = self
                .bounded(
                    "counting the messages",
                    channel.queue_declare(&self.queue, options, FieldTable::default()),
                )
                .await?;
            Ok(u64::from(queue.message_count()))
        })
    }
}
