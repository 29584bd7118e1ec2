//! A relay process killed (`kill -9`) at random moments while commands go on: every event is
//! published at least once, each stream's messages come in stream-version order (a repeat only
//! of what came before), through JetStream's deduplication each event is stored once, and a
//! consumer downstream applies each event exactly once.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use chronicle::prelude::*;
use chronicle::{Consumer, ConsumerHandle, NatsSubscriber, RabbitMqSubscriber, RecordedEvent};
use chronicle_tests::brokers::{nats_address, nats_stream_messages, rabbitmq_url, unique, Rabbit};
use chronicle_tests::ledger::{assert_ledger_is_replay, ledger, Ledger};
use chronicle_tests::process::{Killable, Rng};
use chronicle_tests::support;
use chronicle_tests::wait::{eventually, DEADLINE};

/// How many times the relay is killed, and the longest it runs before each kill.
const KILLS: usize = 8;
const LONGEST_RUN: Duration = Duration::from_millis(400);
/// How many deposits the writer makes while the relay is killed again and again.
const DEPOSITS: usize = 300;

enum Broker {
    RabbitMq { exchange: String },
    Nats { stream: String, prefix: String },
}

/// Starts the relay process and waits until it leads.
async fn spawn_relay(store: &PostgresStore, name: &str, broker: &Broker) -> Killable {
    let mut command = Command::new(env!("CARGO_BIN_EXE_relay"));
    command
        .env("RELAY_DATABASE_URL", support::database_url())
        .env("RELAY_SCHEMA", store.schema())
        .env("RELAY_NAME", name);
    match broker {
        Broker::RabbitMq { exchange } => command
            .env("RELAY_RABBITMQ_URL", rabbitmq_url())
            .env("RELAY_EXCHANGE", exchange),
        Broker::Nats { stream, prefix } => command
            .env("RELAY_NATS_ADDRESS", nats_address())
            .env("RELAY_STREAM", stream)
            .env("RELAY_PREFIX", prefix),
    };
    Killable::start(command).await
}

/// A consumer of the test ledger in this process, subscribed (its queue declared) before the
/// relay publishes.
async fn downstream(broker: &Broker) -> (PostgresReadStore, ConsumerHandle<Ledger>) {
    let remote = support::postgres_read_store_elsewhere().await;
    let name: &'static str = Box::leak(unique("downstream").into_boxed_str());
    let handle = match broker {
        Broker::RabbitMq { exchange } => Consumer::new(
            RabbitMqSubscriber::new(rabbitmq_url()).exchange(exchange),
            remote.clone(),
            Ledger::default(),
        )
        .name(name)
        .spawn(),
        Broker::Nats { stream, prefix } => {
            let subscriber = NatsSubscriber::new(nats_address())
                .stream(stream)
                .subject_prefix(prefix);
            Consumer::new(subscriber, remote.clone(), Ledger::default())
                .name(name)
                .spawn()
        }
    };
    handle
        .wait_until_subscribed(DEADLINE)
        .await
        .expect("the downstream consumer subscribes");
    (remote, handle)
}

async fn killed_again_and_again(broker: Broker) -> (PostgresStore, Vec<RecordedEvent>) {
    let (store, read, bank) = crate::bank().await;
    let name = unique("killed");
    let rabbit = Rabbit::connect().await;
    let queue = match &broker {
        Broker::RabbitMq { exchange } => {
            chronicle::RabbitMqPublisher::new(rabbitmq_url())
                .exchange(exchange)
                .connect()
                .await
                .expect("declare the exchange");
            Some(rabbit.bound_queue(exchange, "#").await)
        }
        Broker::Nats { .. } => None,
    };
    let (remote, consumer) = downstream(&broker).await;
    crate::traffic(&bank, 4, 1).await;
    let writer = {
        let bank = bank.clone();
        tokio::spawn(async move {
            for n in 0..DEPOSITS {
                bank.execute(bank::Deposit {
                    account_id: format!("acc-{}", n % 4),
                    amount: 1,
                })
                .await
                .expect("deposit");
            }
        })
    };
    let mut rng = Rng::seeded();
    for _ in 0..KILLS {
        let mut relay = spawn_relay(&store, &name, &broker).await;
        tokio::time::sleep(rng.pause(LONGEST_RUN)).await;
        relay.kill();
    }
    writer.await.expect("the writer");

    // One last relay publishes what is left; then it is killed too.
    let mut relay = spawn_relay(&store, &name, &broker).await;
    let head = store.head().await.expect("head").position;
    let started = Instant::now();
    loop {
        // How far the relay is, in log positions (its checkpoint is a transaction horizon).
        let row = read.read_checkpoint(&name).await.expect("checkpoint");
        let reached = match row {
            Some(row) => {
                store
                    .progress(row.checkpoint, &[])
                    .await
                    .expect("progress")
                    .position
            }
            None => None,
        };
        if reached >= head {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the last relay did not catch up: at {reached:?}, head {head:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.kill();

    // Downstream, each event was applied exactly once, however often it was published.
    let log = store.read_all(0, 100_000).await.expect("log");
    eventually("the consumer to apply every event", DEADLINE, || async {
        (ledger(&remote).await.len() >= log.len()).then_some(())
    })
    .await;
    assert_ledger_is_replay(&remote, &log).await;
    consumer
        .stop()
        .await
        .into_result()
        .expect("the consumer stops cleanly");

    let received = match (&broker, queue) {
        (Broker::RabbitMq { .. }, Some(queue)) => {
            let total = store.read_all(0, 100_000).await.expect("log").len();
            let mut received = rabbit.take_n(&queue, total, Duration::from_secs(30)).await;
            // Repeats may still be on their way: take what else is there.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while let Some(message) = rabbit.take(&queue).await {
                received.push(message);
            }
            received
        }
        (Broker::Nats { stream, .. }, _) => nats_stream_messages(&nats_address(), stream).await,
        _ => unreachable!(),
    };
    (store, received.iter().map(|message| message.event()).collect())
}

/// Every event of the log at least once; per stream, a message's version is at most one past
/// the highest seen before it (repeats only of what came before).
async fn assert_at_least_once_in_order(store: &PostgresStore, received: &[RecordedEvent]) {
    let log = store.read_all(0, 100_000).await.expect("log");
    let logged: HashSet<_> = log.iter().map(|event| event.event_id).collect();
    let arrived: HashSet<_> = received.iter().map(|event| event.event_id).collect();
    assert_eq!(arrived, logged, "every event, and nothing else, arrived");
    let mut highest: HashMap<&str, u64> = HashMap::new();
    for event in received {
        let seen = highest.entry(event.stream_id.as_str()).or_insert(0);
        assert!(
            event.stream_version <= *seen + 1,
            "stream {} jumped from {} to {}",
            event.stream_id,
            seen,
            event.stream_version
        );
        *seen = (*seen).max(event.stream_version);
    }
}

#[tokio::test]
async fn through_rabbitmq_every_event_arrives_at_least_once_in_stream_order() {
    let broker = Broker::RabbitMq {
        exchange: unique("killed"),
    };
    let (store, received) = killed_again_and_again(broker).await;
    assert_at_least_once_in_order(&store, &received).await;
    println!(
        "{} messages for {} events",
        received.len(),
        store.read_all(0, 100_000).await.expect("log").len()
    );
}

#[tokio::test]
async fn through_jetstream_every_event_is_stored_exactly_once() {
    let broker = Broker::Nats {
        stream: unique("K").to_uppercase(),
        prefix: unique("k"),
    };
    let (store, received) = killed_again_and_again(broker).await;
    assert_at_least_once_in_order(&store, &received).await;
    let log = store.read_all(0, 100_000).await.expect("log");
    assert_eq!(received.len(), log.len(), "a re-publish was stored twice");
}
