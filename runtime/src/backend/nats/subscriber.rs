//! [`NatsSubscriber`]: a consumer's durable JetStream pull consumer on the stream a
//! [`NatsPublisher`] publishes to, resumed from the read store's sequence, acknowledged
//! explicitly.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::consumer::pull::{self, MessagesErrorKind};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::message::Acker;
use async_nats::jetstream::stream::ConsumerErrorKind;
use async_nats::jetstream::{self, AckKind, ErrorCode};
use futures_util::{FutureExt, StreamExt};

use super::publisher::{ensure_stream, NatsPublisher, StreamProblem};
use crate::core::error::BoxError;
use crate::core::future::BoxFuture;
use crate::core::message::{event_from, topic_part};
use crate::core::subscribe::{Delivery, SubscribeError, Subscriber, Subscription, SubscriptionSpec};

/// The longest consumer name taken (JetStream's limit on names from server 2.10 on).
const MAX_NAME: usize = 255;

/// How often the server says an idle pull request is still alive.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// How long one pull request waits at the server before the client issues the next.
const PULL_EXPIRES: Duration = Duration::from_secs(30);

/// Subscribes consumers to what a [`NatsPublisher`] publishes: each consumer is a durable
/// JetStream pull consumer of the stream (created if missing, exactly as the publisher creates
/// it), acknowledged explicitly.
///
/// **What it receives.** Subjects are `<prefix>.<aggregate>.<event type>`
/// ([`topic`](crate::message::topic)). A consumer of one event type filters on
/// `<prefix>.*.<event type>` at the server. The server here (2.9) takes one filter subject per
/// consumer, so a consumer of several types filters on `<prefix>.>` and the subscription
/// acknowledges and drops, as it receives them, the messages of the other types; a consumer of
/// every type filters on `<prefix>.>` and drops nothing.
///
/// **Where it resumes.** The read store, not the broker, knows what the consumer applied: a
/// subscription resumes after [`SubscriptionSpec::after_sequence`]. The consumer the server
/// keeps is reused only when it is exactly there: its acknowledgement floor is that sequence,
/// nothing it delivered waits for an acknowledgement, no pull request of an earlier client
/// waits on it, and its filter and acknowledgement settings are the ones asked for. Otherwise
/// it is deleted and created again to deliver from `after_sequence + 1` (every message when 0).
/// Reusing a consumer that still has unacknowledged deliveries would hand them over again only
/// once their acknowledgement wait runs out, after newer messages; creating it again hands
/// everything after `after_sequence` over in stream order (and `redelivered` is then false,
/// since it is the new consumer's first delivery).
///
/// **In order, once applied.** The server delivers again what is not acknowledged within its
/// acknowledgement wait ([`ACK_WAIT`](Self::ACK_WAIT)), after whatever it delivered since:
/// acknowledge each batch within it. Up to twice the prefetch may be delivered and
/// unacknowledged at once (the next batch arrives while one is applied). JetStream does not
/// keep a pull consumer to one client: two subscriptions under one name share its messages, so
/// only one process may hold a consumer's subscription at a time (the consumer's lease).
///
/// A [rejected](Subscription::reject) message is terminated: never delivered again, it stays in
/// the stream.
pub struct NatsSubscriber {
    address: String,
    stream: String,
    prefix: String,
    timeout: Duration,
}

impl fmt::Debug for NatsSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSubscriber")
            .field("address", &self.address)
            .field("stream", &self.stream)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl NatsSubscriber {
    /// The stream subscribed to unless [`stream`](Self::stream) says otherwise: the one a
    /// [`NatsPublisher`] publishes to by default.
    pub const DEFAULT_STREAM: &'static str = NatsPublisher::DEFAULT_STREAM;
    /// The first token of every subject unless [`subject_prefix`](Self::subject_prefix) says
    /// otherwise: the publisher's.
    pub const DEFAULT_SUBJECT_PREFIX: &'static str = NatsPublisher::DEFAULT_SUBJECT_PREFIX;
    /// How long connecting and subscribing, and each acknowledgement, rejection or backlog
    /// count, may take before the server counts as unavailable, unless
    /// [`timeout`](Self::timeout) says otherwise. Waiting for messages is not bounded by it.
    pub const DEFAULT_TIMEOUT: Duration = NatsPublisher::DEFAULT_TIMEOUT;
    /// How long the server waits for a delivered message's acknowledgement before it delivers
    /// the message again.
    pub const ACK_WAIT: Duration = Duration::from_secs(30);

    /// A subscriber to the server at `address` (`127.0.0.1:4222`), to the stream
    /// [`DEFAULT_STREAM`](Self::DEFAULT_STREAM) with subjects under
    /// [`DEFAULT_SUBJECT_PREFIX`](Self::DEFAULT_SUBJECT_PREFIX). Nothing is connected yet:
    /// each subscription opens a connection of its own.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            stream: Self::DEFAULT_STREAM.to_owned(),
            prefix: Self::DEFAULT_SUBJECT_PREFIX.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Subscribes to the JetStream stream `name` (created if missing, as the publisher would).
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// Subjects begin with `prefix`, the publisher's.
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long connecting and subscribing, and each acknowledgement, rejection or backlog
    /// count, may take. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(10));
        self
    }

    fn unavailable(&self, source: impl Into<BoxError>) -> SubscribeError {
        SubscribeError::unavailable(self.broker(), source)
    }

    fn refused(&self, consumer: &str, reason: impl Into<String>) -> SubscribeError {
        SubscribeError::Refused {
            broker: self.broker(),
            consumer: consumer.to_owned(),
            reason: reason.into(),
        }
    }

    /// The durable consumer's name at the server for `consumer`: the name with every byte
    /// that is not an ASCII letter, digit or `-` written `_XX` (`_` included, so no two names
    /// meet): JetStream reads a consumer's name as a token of its API subjects and keeps it as a
    /// directory, and async-nats does not deliver to a pull consumer whose name holds `%`. A
    /// projection's `shop.summaries` becomes `shop_2Esummaries`. Refused when empty or too long.
    fn durable_name(&self, consumer: &str) -> Result<String, SubscribeError> {
        if consumer.is_empty() {
            return Err(self.refused(consumer, "a consumer needs a name"));
        }
        let durable = consumer
            .bytes()
            .fold(String::with_capacity(consumer.len()), |mut name, byte| {
                if byte.is_ascii_alphanumeric() || byte == b'-' {
                    name.push(char::from(byte));
                } else {
                    name.push_str(&format!("_{byte:02X}"));
                }
                name
            });
        if durable.len() > MAX_NAME {
            return Err(self.refused(
                consumer,
                format!(
                    "the name is {} bytes written for JetStream, over {MAX_NAME}",
                    durable.len()
                ),
            ));
        }
        Ok(durable)
    }

    /// The filter subject for `event_types`, and the type parts the client keeps when the
    /// filter cannot say them all.
    fn filter(&self, event_types: &[&str]) -> (String, Option<HashSet<String>>) {
        let parts: HashSet<String> = event_types.iter().map(|name| topic_part(name)).collect();
        if parts.len() == 1 {
            let part = parts.into_iter().next().unwrap_or_default();
            (format!("{}.*.{part}", self.prefix), None)
        } else if parts.is_empty() {
            (format!("{}.>", self.prefix), None)
        } else {
            (format!("{}.>", self.prefix), Some(parts))
        }
    }

    async fn open(
        &self,
        spec: SubscriptionSpec<'_>,
        durable: String,
    ) -> Result<NatsSubscription, SubscribeError> {
        let name = spec.consumer;
        let client = async_nats::ConnectOptions::new()
            .name("chronicle-consumer")
            .connection_timeout(self.timeout)
            .connect(self.address.as_str())
            .await
            .map_err(|error| self.unavailable(error))?;
        let mut context = jetstream::new(client.clone());
        context.set_timeout(self.timeout);
        let stream = ensure_stream(
            &context,
            &self.stream,
            &self.prefix,
            NatsPublisher::DEFAULT_DUPLICATE_WINDOW,
        )
        .await
        .map_err(|problem| match problem {
            StreamProblem::Unreachable(error) => self.unavailable(error),
            problem @ StreamProblem::CapturesOther { .. } => self.refused(name, problem.to_string()),
        })?;

        let (filter_subject, only) = self.filter(spec.event_types);
        let prefetch = usize::from(spec.prefetch.max(1));
        let max_ack_pending = i64::from(spec.prefetch.max(1)) * 2;
        let deliver_policy = match spec.after_sequence {
            0 => DeliverPolicy::All,
            after => DeliverPolicy::ByStartSequence {
                start_sequence: after.saturating_add(1),
            },
        };
        let wanted = pull::Config {
            durable_name: Some(durable.clone()),
            deliver_policy,
            ack_policy: AckPolicy::Explicit,
            ack_wait: Self::ACK_WAIT,
            filter_subject: filter_subject.clone(),
            max_ack_pending,
            ..pull::Config::default()
        };

        let keep = match stream.consumer_info(durable.as_str()).await {
            Ok(info) => {
                let config = &info.config;
                let resumable = info.ack_floor.stream_sequence == spec.after_sequence
                    && info.num_ack_pending == 0
                    && info.num_waiting == 0
                    && config.deliver_subject.is_none()
                    && config.filter_subject == filter_subject
                    && config.ack_policy == AckPolicy::Explicit
                    && config.ack_wait == Self::ACK_WAIT
                    && config.max_ack_pending == max_ack_pending;
                if !resumable {
                    if let Err(error) = stream.delete_consumer(durable.as_str()).await {
                        let gone = matches!(
                            error.kind(),
                            ConsumerErrorKind::JetStream(ref js) if js.error_code() == ErrorCode::CONSUMER_NOT_FOUND
                        );
                        if !gone {
                            return Err(self.unavailable(format!("deleting the consumer `{name}`: {error}")));
                        }
                    }
                }
                resumable
            }
            Err(error) if error.kind() == ConsumerInfoErrorKind::NotFound => false,
            Err(error) => {
                return Err(self.unavailable(format!("reading the consumer `{name}`: {error}")));
            }
        };
        let consumer: PullConsumer = if keep {
            stream
                .get_consumer(durable.as_str())
                .await
                .map_err(|error| self.unavailable(format!("reading the consumer `{name}`: {error}")))?
        } else {
            stream
                .create_consumer(wanted)
                .await
                .map_err(|error| match error.kind() {
                    ConsumerErrorKind::JetStream(js)
                        if js.code() == 400
                            && js.error_code() != ErrorCode::CONSUMER_NAME_EXIST
                            && js.error_code() != ErrorCode::CONSUMER_ALREADY_EXISTS =>
                    {
                        self.refused(name, format!("creating the consumer: {js}"))
                    }
                    _ => self.unavailable(format!("creating the consumer `{name}`: {error}")),
                })?
        };
        let messages = consumer
            .stream()
            .max_messages_per_batch(prefetch)
            .heartbeat(HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|error| self.unavailable(format!("pulling from the consumer `{name}`: {error}")))?;
        Ok(NatsSubscription {
            broker: self.broker(),
            name: name.to_owned(),
            prefix: self.prefix.clone(),
            timeout: self.timeout,
            client,
            consumer,
            messages,
            only,
            next_tag: 1,
            pending: HashMap::new(),
            dropped: Vec::new(),
            broken: None,
        })
    }
}

impl Subscriber for NatsSubscriber {
    type Subscription = NatsSubscription;

    fn broker(&self) -> String {
        format!("NATS JetStream at {}", self.address)
    }

    fn keeps_history(&self) -> bool {
        true
    }

    fn subscribe<'a>(
        &'a self,
        spec: SubscriptionSpec<'a>,
    ) -> BoxFuture<'a, Result<Self::Subscription, SubscribeError>> {
        Box::pin(async move {
            let durable = self.durable_name(spec.consumer)?;
            match tokio::time::timeout(self.timeout, self.open(spec, durable)).await {
                Ok(opened) => opened,
                Err(_elapsed) => Err(self.unavailable(format!("no subscription within {:?}", self.timeout))),
            }
        })
    }
}

/// A consumer's subscription to its JetStream consumer: a connection of its own, closed when it
/// is dropped. [`Delivery::sequence`] is the stream sequence; [`Delivery::tag`] a number of the
/// subscription's own.
///
/// [`receive`](Subscription::receive) may be dropped while it waits (raced against a timer):
/// once it has taken a message it no longer waits, so nothing it took is lost.
pub struct NatsSubscription {
    broker: String,
    name: String,
    prefix: String,
    timeout: Duration,
    client: async_nats::Client,
    consumer: PullConsumer,
    messages: pull::Stream,
    /// The type parts handed over when the filter subject takes every type (`None`: all).
    only: Option<HashSet<String>>,
    next_tag: u64,
    /// What was handed over and is neither acknowledged nor rejected yet, by tag.
    pending: HashMap<u64, Pending>,
    /// Messages of types not subscribed to, received and not acknowledged yet.
    dropped: Vec<Acker>,
    /// Why the subscription cannot go on, once it cannot: every later call fails with it.
    broken: Option<String>,
}

struct Pending {
    sequence: u64,
    acker: Acker,
}

impl fmt::Debug for NatsSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSubscription")
            .field("broker", &self.broker)
            .field("consumer", &self.name)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl NatsSubscription {
    fn unavailable(&self, source: impl Into<BoxError>) -> SubscribeError {
        SubscribeError::unavailable(self.broker.clone(), source)
    }

    fn check_open(&self) -> Result<(), SubscribeError> {
        match &self.broken {
            Some(why) => Err(self.unavailable(why.clone())),
            None => Ok(()),
        }
    }

    fn break_off(&mut self, why: String) -> SubscribeError {
        let error = self.unavailable(why.clone());
        self.broken = Some(why);
        error
    }

    /// The event type part of `subject` (`<prefix>.<aggregate>.<type>`).
    fn type_part<'s>(&self, subject: &'s str) -> Option<&'s str> {
        let rest = subject.strip_prefix(self.prefix.as_str())?.strip_prefix('.')?;
        rest.split_once('.').map(|(_, event_type)| event_type)
    }

    /// `message` as a delivery; `None` for a message of a type not subscribed to, dropped (and
    /// acknowledged by [`flush_dropped`](Self::flush_dropped)). It does not wait, so that a
    /// receive dropped while it waits loses nothing it took.
    fn take(&mut self, message: jetstream::Message) -> Result<Option<Delivery>, SubscribeError> {
        let (sequence, delivered) = match message.info() {
            Ok(info) => (info.stream_sequence, info.delivered),
            Err(error) => {
                return Err(self.break_off(format!(
                    "a message on `{}` without JetStream's metadata: {error}",
                    message.subject
                )))
            }
        };
        if let Some(only) = &self.only {
            let wanted = self
                .type_part(message.subject.as_str())
                .is_some_and(|part| only.contains(part));
            if !wanted {
                self.dropped.push(message.split().1);
                return Ok(None);
            }
        }
        let headers = message.headers.as_ref();
        let header = |name: &str| headers?.get(name).map(|value| value.as_str().to_owned());
        let event = event_from(header, &message.payload);
        let (_message, acker) = message.split();
        let tag = self.next_tag;
        self.next_tag += 1;
        self.pending.insert(tag, Pending { sequence, acker });
        Ok(Some(Delivery {
            event,
            sequence,
            redelivered: delivered > 1,
            tag,
        }))
    }

    /// Acknowledges the messages of other types dropped so far. Each leaves the list once its
    /// acknowledgement is sent: a call dropped halfway sends the rest next time (an
    /// acknowledgement sent twice is ignored by the server).
    async fn flush_dropped(&mut self) -> Result<(), SubscribeError> {
        while let Some(acker) = self.dropped.last() {
            if let Err(error) = acker.ack().await {
                return Err(self.break_off(format!("acknowledging a message of another type: {error}")));
            }
            self.dropped.pop();
        }
        Ok(())
    }

    /// The pending messages of `tags`, by tag (each once), failing on a tag not pending.
    fn settle(&self, tags: impl Iterator<Item = u64>) -> Result<Vec<u64>, SubscribeError> {
        let mut tags: Vec<u64> = tags.collect();
        tags.sort_unstable();
        tags.dedup();
        if let Some(tag) = tags.iter().find(|tag| !self.pending.contains_key(tag)) {
            return Err(self.unavailable(format!(
                "delivery {tag} is not pending on this subscription of `{}` (settled already, or \
                 handed over by another one)",
                self.name
            )));
        }
        Ok(tags)
    }

    async fn bounded(
        &self,
        what: &str,
        work: impl std::future::Future<Output = Result<(), async_nats::Error>>,
    ) -> Result<(), SubscribeError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(self.unavailable(format!("{what} on `{}`: {error}", self.name))),
            Err(_elapsed) => Err(self.unavailable(format!(
                "{what} on `{}` not confirmed within {:?}",
                self.name, self.timeout
            ))),
        }
    }
}

impl Subscription for NatsSubscription {
    fn receive(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<Delivery>, SubscribeError>> {
        Box::pin(async move {
            self.check_open()?;
            self.flush_dropped().await?;
            // The client counts a heartbeat missed when it was not polled for a while (the
            // consumer was applying a batch), though the heartbeats wait in its buffer: one
            // miss right away is forgiven while connected, a second one is not.
            let mut missed = false;
            let first = loop {
                match self.messages.next().await {
                    Some(Ok(message)) => match self.take(message)? {
                        Some(delivery) => break delivery,
                        // Acknowledged while nothing is taken yet, so that the server, which
                        // holds back what exceeds the unacknowledged maximum, goes on.
                        None => self.flush_dropped().await?,
                    },
                    Some(Err(error))
                        if error.kind() == MessagesErrorKind::MissingHeartbeat
                            && !missed
                            && self.client.connection_state() == State::Connected =>
                    {
                        missed = true;
                    }
                    Some(Err(error)) => {
                        return Err(self.break_off(format!("pulling from `{}`: {error}", self.name)));
                    }
                    None => {
                        return Err(self.break_off(format!("the pull from `{}` ended", self.name)));
                    }
                }
            };
            let mut deliveries = vec![first];
            while deliveries.len() < max {
                // What the client has buffered already, without waiting.
                match self.messages.next().now_or_never() {
                    Some(Some(Ok(message))) => {
                        if let Some(delivery) = self.take(message)? {
                            deliveries.push(delivery);
                        }
                    }
                    Some(Some(Err(error))) if error.kind() == MessagesErrorKind::MissingHeartbeat => break,
                    Some(Some(Err(error))) => {
                        // Reported by the next call; these are handed over first.
                        self.broken = Some(format!("pulling from `{}`: {error}", self.name));
                        break;
                    }
                    Some(None) => {
                        self.broken = Some(format!("the pull from `{}` ended", self.name));
                        break;
                    }
                    None => break,
                }
            }
            Ok(deliveries)
        })
    }

    /// Acknowledges every message but the last in stream order without waiting, then the last
    /// with the server's confirmation: the server takes one connection's acknowledgements in
    /// the order they were sent, so once it confirms the last, it has all of them.
    fn acknowledge<'a>(
        &'a mut self,
        deliveries: &'a [Delivery],
    ) -> BoxFuture<'a, Result<(), SubscribeError>> {
        Box::pin(async move {
            let mut tags = self.settle(deliveries.iter().map(|delivery| delivery.tag))?;
            tags.sort_by_key(|tag| self.pending.get(tag).map_or(0, |pending| pending.sequence));
            let Some((&last, rest)) = tags.split_last() else {
                return Ok(());
            };
            let sent = async {
                for tag in rest {
                    if let Some(pending) = self.pending.get(tag) {
                        pending.acker.ack().await?;
                    }
                }
                match self.pending.get(&last) {
                    Some(pending) => pending.acker.double_ack().await,
                    None => Ok(()),
                }
            };
            self.bounded("acknowledging", sent).await?;
            for tag in &tags {
                self.pending.remove(tag);
            }
            Ok(())
        })
    }

    fn reject<'a>(&'a mut self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), SubscribeError>> {
        Box::pin(async move {
            let tag = delivery.tag;
            self.settle(std::iter::once(tag))?;
            let terminated = async {
                match self.pending.get(&tag) {
                    Some(pending) => pending.acker.double_ack_with(AckKind::Term).await,
                    None => Ok(()),
                }
            };
            self.bounded("terminating a message", terminated).await?;
            self.pending.remove(&tag);
            Ok(())
        })
    }

    /// The messages the server has not delivered yet (`num_pending`), and those it delivered
    /// that wait in the client's buffer, not yet received (`num_ack_pending` less what is
    /// handed over and not settled). With a consumer of several types, messages of other types
    /// are counted too (the server filters on every type).
    fn backlog(&mut self) -> BoxFuture<'_, Result<u64, SubscribeError>> {
        Box::pin(async move {
            self.check_open()?;
            let info = match tokio::time::timeout(self.timeout, self.consumer.info()).await {
                Ok(Ok(info)) => info.clone(),
                Ok(Err(error)) => {
                    return Err(self.unavailable(format!("reading the consumer `{}`: {error}", self.name)))
                }
                Err(_elapsed) => {
                    return Err(self.unavailable(format!(
                        "reading the consumer `{}`: no answer within {:?}",
                        self.name, self.timeout
                    )))
                }
            };
            let buffered = info.num_ack_pending.saturating_sub(self.pending.len());
            Ok(info
                .num_pending
                .saturating_add(u64::try_from(buffered).unwrap_or(u64::MAX)))
        })
    }
}
