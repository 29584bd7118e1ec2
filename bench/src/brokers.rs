//! The relay scenarios: a relay publishing a loaded log to RabbitMQ and to NATS JetStream, each
//! beside a raw publisher of the same messages on the same broker (the broker's limit).

use std::time::{Duration, Instant};

use async_nats::jetstream;
use chronicle::message::Message;
use chronicle::{
    EventStore, NatsPublisher, PostgresReadStore, PostgresStore, ProjectionRunner, RabbitMqPublisher,
    RecordedEvent, Relay,
};
use futures_util::future::try_join_all;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::report::Sample;
use crate::Result;

/// Where the brokers are: `RABBITMQ_URL` and `NATS_URL`, by default the local ones.
pub(crate) fn rabbitmq_url() -> String {
    std::env::var("RABBITMQ_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The NATS server.
pub(crate) fn nats_address() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".to_owned())
}

pub(crate) fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

pub(crate) async fn rabbit() -> Result<(Connection, Channel)> {
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    let connection = Connection::connect(&rabbitmq_url(), properties).await?;
    let channel = connection.create_channel().await?;
    Ok((connection, channel))
}

/// A durable topic exchange and a durable queue bound to all of it, so that the broker stores
/// every message as it would for a subscriber.
pub(crate) async fn exchange_with_queue(channel: &Channel) -> Result<(String, String)> {
    let exchange = format!("bench_{}", suffix());
    let queue = format!("bench_{}", suffix());
    channel
        .exchange_declare(
            &exchange,
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            &queue,
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            &queue,
            &exchange,
            "#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((exchange, queue))
}

async fn drop_rabbit(channel: &Channel, exchange: &str, queue: &str) -> Result<u32> {
    let left = channel.queue_delete(queue, QueueDeleteOptions::default()).await?;
    channel.exchange_delete(exchange, Default::default()).await?;
    Ok(left)
}

/// The relay from an empty checkpoint to caught up with `store`, publishing to `publisher`.
async fn run_relay<B: chronicle::Publisher>(
    store: &PostgresStore,
    read: &PostgresReadStore,
    publisher: B,
    batch: usize,
) -> Result<Duration> {
    let name: &'static str = Box::leak(format!("bench_relay_{}", suffix()).into_boxed_str());
    let started = Instant::now();
    let handle = ProjectionRunner::new(store.clone(), read.clone(), Relay::new(name, publisher))
        .batch_size(batch)
        .spawn();
    handle.wait_until_caught_up(Duration::from_secs(600)).await?;
    let elapsed = started.elapsed();
    handle.stop().await.into_result()?;
    Ok(elapsed)
}

/// The relay to RabbitMQ: its rate over `events` events.
pub(crate) async fn relay_rabbitmq(
    store: &PostgresStore,
    read: &PostgresReadStore,
    events: usize,
    batch: usize,
) -> Result<Sample> {
    let (_connection, channel) = rabbit().await?;
    let (exchange, queue) = exchange_with_queue(&channel).await?;
    let publisher = RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange);
    let elapsed = run_relay(store, read, publisher, batch).await?;
    let stored = drop_rabbit(&channel, &exchange, &queue).await?;
    expect_count("messages in the queue", stored as usize, events)?;
    Ok(Sample::timed(events, elapsed, Vec::new()))
}

/// Raw lapin: the same messages, persistent, to the same kind of exchange and queue, `batch` at
/// a time, each batch's confirms awaited before the next.
pub(crate) async fn raw_rabbitmq(log: &[RecordedEvent], batch: usize) -> Result<Sample> {
    let (_connection, channel) = rabbit().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let (exchange, queue) = exchange_with_queue(&channel).await?;
    let started = Instant::now();
    for chunk in log.chunks(batch.max(1)) {
        let mut confirms = Vec::with_capacity(chunk.len());
        for event in chunk {
            let message = Message::of(event);
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
                .with_headers(headers);
            confirms.push(
                channel
                    .basic_publish(
                        &exchange,
                        &message.topic,
                        BasicPublishOptions::default(),
                        message.body(),
                        properties,
                    )
                    .await?,
            );
        }
        for confirm in try_join_all(confirms).await? {
            if !confirm.is_ack() {
                return Err("raw RabbitMQ publish not acknowledged".into());
            }
        }
    }
    let elapsed = started.elapsed();
    let stored = drop_rabbit(&channel, &exchange, &queue).await?;
    expect_count("messages in the queue", stored as usize, log.len())?;
    Ok(Sample::timed(log.len(), elapsed, Vec::new()))
}

/// The relay to NATS JetStream: its rate over `events` events.
pub(crate) async fn relay_nats(
    store: &PostgresStore,
    read: &PostgresReadStore,
    events: usize,
    batch: usize,
) -> Result<Sample> {
    let stream = format!("BENCH_{}", suffix().to_uppercase());
    let prefix = format!("bench_{}", suffix());
    let publisher = NatsPublisher::new(nats_address())
        .stream(&stream)
        .subject_prefix(&prefix);
    let elapsed = run_relay(store, read, publisher, batch).await?;
    let stored = drop_stream(&stream).await?;
    expect_count("messages in the stream", stored, events)?;
    Ok(Sample::timed(events, elapsed, Vec::new()))
}

/// Raw async-nats: the same messages and headers to a stream of the same configuration,
/// `batch` at a time, each batch's acknowledgements awaited before the next.
pub(crate) async fn raw_nats(log: &[RecordedEvent], batch: usize) -> Result<Sample> {
    let client = async_nats::connect(nats_address()).await?;
    let context = jetstream::new(client);
    let stream = format!("BENCH_{}", suffix().to_uppercase());
    let prefix = format!("bench_{}", suffix());
    context
        .get_or_create_stream(jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}.>")],
            duplicate_window: Duration::from_secs(120),
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    for chunk in log.chunks(batch.max(1)) {
        let mut acks = Vec::with_capacity(chunk.len());
        for event in chunk {
            let message = Message::of(event);
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                event.event_id.to_string().as_str(),
            );
            for (name, value) in &message.headers {
                headers.insert(*name, value.as_str());
            }
            let subject = format!("{prefix}.{}", message.topic);
            acks.push(
                context
                    .publish_with_headers(subject, headers, message.body().to_vec().into())
                    .await?,
            );
        }
        for ack in acks {
            ack.await?;
        }
    }
    let elapsed = started.elapsed();
    let stored = drop_stream(&stream).await?;
    expect_count("messages in the stream", stored, log.len())?;
    Ok(Sample::timed(log.len(), elapsed, Vec::new()))
}

/// Deletes a benchmark stream; returns how many messages it held.
async fn drop_stream(name: &str) -> Result<usize> {
    let client = async_nats::connect(nats_address()).await?;
    let context = jetstream::new(client);
    let mut stream = context.get_stream(name).await?;
    let messages = stream.info().await?.state.messages;
    context.delete_stream(name).await?;
    Ok(usize::try_from(messages)?)
}

fn expect_count(what: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got}, expected {want}").into())
    }
}

/// The first `events` events of `store`'s log, for the raw publishers.
pub(crate) async fn log_of(store: &PostgresStore, events: usize) -> Result<Vec<RecordedEvent>> {
    Ok(store.read_all(0, events).await?)
}
