//! The end-to-end scenarios: from a command's receipt to a read model in another store showing
//! it, through a relay, a broker and a consumer; each beside a raw round trip of one persistent
//! message through the same broker (published with a confirm, then received and acknowledged by
//! a consumer), the broker's own latency.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::consumer::pull;
use bank::views::postgres::AccountBalances;
use bank::Deposit;
use chronicle::{
    Chronicle, Consumer, NatsPublisher, NatsSubscriber, PostgresReadStore, PostgresStore, ProjectionRunner,
    Publisher, RabbitMqPublisher, RabbitMqSubscriber, Relay, Subscriber,
};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;

use crate::brokers::{exchange_with_queue, nats_address, rabbit, rabbitmq_url, suffix};
use crate::report::Sample;
use crate::Result;

/// How long one command may take to reach the remote read model.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The stores of one end-to-end run: the event store, the relay's checkpoints beside it, and the
/// remote read model in a schema of its own.
pub(crate) struct Stores<'a> {
    pub store: &'a PostgresStore,
    pub checkpoints: &'a PostgresReadStore,
    pub remote: &'a PostgresReadStore,
    /// Accounts the deposits go to (already opened).
    pub accounts: &'a [String],
}

/// `commands` deposits, each timed from its receipt until the remote balances include it.
async fn through<B: Publisher, S: Subscriber>(
    stores: &Stores<'_>,
    publisher: B,
    subscriber: S,
    commands: usize,
) -> Result<Sample> {
    let name: &'static str = Box::leak(format!("bench_e2e_{}", suffix()).into_boxed_str());
    let consumer = Consumer::new(subscriber, stores.remote.clone(), AccountBalances)
        .name(name)
        .spawn();
    // Subscribed (its queue declared) before anything is published.
    consumer.wait_until_subscribed(TIMEOUT).await?;
    let relay = ProjectionRunner::new(
        stores.store.clone(),
        stores.checkpoints.clone(),
        Relay::new(name, publisher),
    )
    .spawn();
    let bank = Chronicle::new(stores.store.clone());
    let mut latencies = Vec::with_capacity(commands);
    let started = Instant::now();
    for n in 0..commands {
        let receipt = bank
            .execute(Deposit {
                account_id: stores.accounts[n % stores.accounts.len()].clone(),
                amount: 1,
            })
            .await?;
        let applied = Instant::now();
        consumer.wait_for(&receipt, TIMEOUT).await?;
        latencies.push(applied.elapsed());
    }
    let elapsed = started.elapsed();
    let status = consumer.status().await?;
    relay.stop().await.into_result()?;
    consumer.stop().await.into_result()?;
    if status.applied < commands as u64 {
        return Err(format!("the consumer applied {} of {commands} deposits", status.applied).into());
    }
    Ok(Sample::timed(commands, elapsed, latencies))
}

/// Through RabbitMQ.
pub(crate) async fn rabbitmq(stores: &Stores<'_>, commands: usize) -> Result<Sample> {
    let exchange = format!("bench_e2e_{}", suffix());
    let publisher = RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange);
    let subscriber = RabbitMqSubscriber::new(rabbitmq_url()).exchange(&exchange);
    through(stores, publisher, subscriber, commands).await
}

/// Through NATS JetStream.
pub(crate) async fn nats(stores: &Stores<'_>, commands: usize) -> Result<Sample> {
    let stream = format!("BENCH_E2E_{}", suffix().to_uppercase());
    let prefix = format!("bench_e2e_{}", suffix());
    let publisher = NatsPublisher::new(nats_address())
        .stream(&stream)
        .subject_prefix(&prefix);
    let subscriber = NatsSubscriber::new(nats_address())
        .stream(&stream)
        .subject_prefix(&prefix);
    let sample = through(stores, publisher, subscriber, commands).await;
    let client = async_nats::connect(nats_address()).await?;
    jetstream::new(client).delete_stream(&stream).await?;
    sample
}

/// Raw lapin: `messages` persistent messages, one at a time, each timed from its publish (its confirm
/// awaited, as the relay does) until a consumer of the queue has it and acknowledged it.
pub(crate) async fn raw_rabbitmq(messages: usize) -> Result<Sample> {
    let (_connection, channel) = rabbit().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let (exchange, queue) = exchange_with_queue(&channel).await?;
    let (_consuming, consuming_channel) = rabbit().await?;
    let mut deliveries = consuming_channel
        .basic_consume(
            queue.as_str(),
            "bench",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut latencies = Vec::with_capacity(messages);
    let started = Instant::now();
    for n in 0..messages {
        let sent = Instant::now();
        let confirm = channel
            .basic_publish(
                exchange.as_str(),
                "bench.Deposit",
                BasicPublishOptions::default(),
                format!("{{\"n\":{n}}}").as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?;
        if !confirm.await?.is_ack() {
            return Err("raw RabbitMQ publish not acknowledged".into());
        }
        let delivery = deliveries.next().await.ok_or("the consumer ended")??;
        delivery.ack(BasicAckOptions::default()).await?;
        latencies.push(sent.elapsed());
    }
    let elapsed = started.elapsed();
    consuming_channel.close(200, "done").await?;
    channel.queue_delete(queue.as_str(), Default::default()).await?;
    channel
        .exchange_delete(exchange.as_str(), Default::default())
        .await?;
    Ok(Sample::timed(messages, elapsed, latencies))
}

/// Raw async-nats: `messages` messages, one at a time, each timed from its publish until a
/// durable pull consumer of the stream has it (and acknowledged it).
pub(crate) async fn raw_nats(messages: usize) -> Result<Sample> {
    let client = async_nats::connect(nats_address()).await?;
    let context = jetstream::new(client);
    let name = format!("BENCH_RT_{}", suffix().to_uppercase());
    let prefix = format!("bench_rt_{}", suffix());
    let stream = context
        .get_or_create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("{prefix}.>")],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let consumer = stream
        .get_or_create_consumer(
            "bench",
            pull::Config {
                durable_name: Some("bench".into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await?;
    let mut incoming = consumer.messages().await?;
    let mut latencies = Vec::with_capacity(messages);
    let started = Instant::now();
    for n in 0..messages {
        let sent = Instant::now();
        let ack = context
            .publish(format!("{prefix}.deposit"), format!("{{\"n\":{n}}}").into())
            .await?;
        ack.await?;
        let message = incoming.next().await.ok_or("the consumer ended")??;
        message.ack().await?;
        latencies.push(sent.elapsed());
    }
    let elapsed = started.elapsed();
    context.delete_stream(&name).await?;
    Ok(Sample::timed(messages, elapsed, latencies))
}
