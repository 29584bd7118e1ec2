//! A consumer process killed (`kill -9`) at random moments while commands go on and a relay
//! publishes them: at the end the consumer's view equals a replay of the log, each event applied
//! exactly once, and no message is left unacknowledged at the broker.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chronicle::prelude::*;
use chronicle::{
    Consumer, NatsPublisher, NatsSubscriber, Publisher, RabbitMqPublisher, RabbitMqSubscriber, Relay,
};
use chronicle_tests::brokers::{nats_address, rabbitmq_url, unique, Rabbit};
use chronicle_tests::ledger::{assert_ledger_is_replay, ledger, Ledger};
use chronicle_tests::process::{Killable, Rng};
use chronicle_tests::support;
use chronicle_tests::wait::{eventually, DEADLINE};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

/// How many times the consumer is killed, and the longest it runs before each kill.
const KILLS: usize = 8;
const LONGEST_RUN: Duration = Duration::from_millis(500);
/// How many deposits the writer makes meanwhile.
const DEPOSITS: i64 = 300;

enum Broker {
    RabbitMq { exchange: String },
    Nats { stream: String, prefix: String },
}

/// Starts the consumer process and waits until it leads.
async fn spawn_consumer(remote: &PostgresReadStore, name: &str, broker: &Broker) -> Killable {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consumer"));
    command
        .env("CONSUMER_READ_URL", support::read_database_url())
        .env("CONSUMER_SCHEMA", remote.schema())
        .env("CONSUMER_NAME", name);
    match broker {
        Broker::RabbitMq { exchange } => command
            .env("CONSUMER_RABBITMQ_URL", rabbitmq_url())
            .env("CONSUMER_EXCHANGE", exchange),
        Broker::Nats { stream, prefix } => command
            .env("CONSUMER_NATS_ADDRESS", nats_address())
            .env("CONSUMER_STREAM", stream)
            .env("CONSUMER_PREFIX", prefix),
    };
    Killable::start(command).await
}

async fn killed_again_and_again<B: Publisher>(broker: Broker, publisher: B) {
    let (store, read, bank) = crate::bank().await;
    let remote = support::postgres_read_store_elsewhere().await;
    let name = unique("killed");
    // The first consumer declares the queue before anything is published.
    let mut consumer = spawn_consumer(&remote, &name, &broker).await;
    let relay = ProjectionRunner::new(store.clone(), read, Relay::new("to-killed", publisher)).spawn();
    crate::traffic(&bank, 4, 1).await;
    // Deposits go on for as long as the kills do (and at least DEPOSITS of them), so that every
    // kill lands while messages flow.
    let killing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (bank, killing) = (bank.clone(), killing.clone());
        tokio::spawn(async move {
            let mut n: i64 = 0;
            while n < DEPOSITS || killing.load(Ordering::Relaxed) {
                bank.execute(bank::Deposit {
                    account_id: format!("acc-{}", n % 4),
                    amount: n + 1,
                })
                .await
                .expect("deposit");
                n += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            n
        })
    };
    let mut rng = Rng::seeded();
    for kill in 0..KILLS {
        tokio::time::sleep(rng.pause(LONGEST_RUN)).await;
        consumer.kill();
        println!("killed the consumer ({} of {KILLS})", kill + 1);
        consumer = spawn_consumer(&remote, &name, &broker).await;
    }
    killing.store(false, Ordering::Relaxed);
    let deposits = writer.await.expect("the writer");
    println!("{deposits} deposits while the consumer was killed {KILLS} times");
    let head = store.head().await.expect("head").position;
    relay
        .wait_for(head, DEADLINE)
        .await
        .expect("everything published");

    // The last consumer process applies what is left.
    let log = store.read_all(0, 100_000).await.expect("log");
    eventually("the consumer to apply every event", DEADLINE, || async {
        (ledger(&remote).await.len() >= log.len()).then_some(())
    })
    .await;
    consumer.kill();
    assert_ledger_is_replay(&remote, &log).await;

    // Nothing is left unacknowledged: a consumer in this process finds nothing to apply.
    let name: &'static str = Box::leak(name.into_boxed_str());
    let last = match &broker {
        Broker::RabbitMq { exchange } => {
            let subscriber = RabbitMqSubscriber::new(rabbitmq_url()).exchange(exchange);
            Consumer::new(subscriber, remote.clone(), Ledger::default())
                .name(name)
                .spawn()
        }
        Broker::Nats { stream, prefix } => {
            let subscriber = NatsSubscriber::new(nats_address())
                .stream(stream)
                .subject_prefix(prefix);
            Consumer::new(subscriber, remote.clone(), Ledger::default())
                .name(name)
                .spawn()
        }
    };
    let status = eventually("the last consumer to ask the broker", DEADLINE, || async {
        let status = last.status().await.expect("status");
        (status.backlog == Some(0) && status.leader).then_some(status)
    })
    .await;
    assert_eq!(status.applied, 0, "{status:?}");
    last.stop().await.into_result().expect("stops cleanly");
    if let Broker::RabbitMq { .. } = &broker {
        // Stopped, so nothing is held by a consumer: every message was acknowledged.
        let rabbit = Rabbit::connect().await;
        let queue = rabbit
            .channel
            .queue_declare(
                name,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the consumer's queue");
        assert_eq!(queue.message_count(), 0, "messages left in the queue");
    }
    assert_ledger_is_replay(&remote, &log).await;
    relay.stop().await.into_result().expect("the relay stops");
}

#[tokio::test]
async fn a_consumer_killed_again_and_again_over_rabbitmq_applies_each_event_once() {
    let exchange = unique("consumer-killed");
    let publisher = RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange);
    killed_again_and_again(Broker::RabbitMq { exchange }, publisher).await;
}

#[tokio::test]
async fn a_consumer_killed_again_and_again_over_jetstream_applies_each_event_once() {
    let (stream, prefix) = (unique("CK").to_uppercase(), unique("ck"));
    let publisher = NatsPublisher::new(nats_address())
        .stream(&stream)
        .subject_prefix(&prefix);
    killed_again_and_again(Broker::Nats { stream, prefix }, publisher).await;
}
