//! A relay process killed (`kill -9`) at random moments while commands go on: every event is
//! published at least once, each stream's messages come in stream-version order (a repeat only
//! of what came before), and through JetStream's deduplication each event is stored once.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chronicle::prelude::*;
use chronicle::RecordedEvent;
use chronicle_tests::brokers::{nats_address, nats_stream_messages, rabbitmq_url, unique, Rabbit};
use chronicle_tests::support;

/// How many times the relay is killed, and the longest it runs before each kill.
const KILLS: usize = 8;
const LONGEST_RUN: Duration = Duration::from_millis(400);
/// How many deposits the writer makes while the relay is killed again and again.
const DEPOSITS: usize = 300;

enum Broker {
    RabbitMq { exchange: String },
    Nats { stream: String, prefix: String },
}

/// A relay process, killed when dropped, so that a failing test leaves none behind.
struct RelayProcess(Child);

impl RelayProcess {
    /// `kill -9`, and reap it.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the relay process and waits until it leads.
async fn spawn_relay(store: &PostgresStore, name: &str, broker: &Broker) -> RelayProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_relay"));
    command
        .env("RELAY_DATABASE_URL", support::database_url())
        .env("RELAY_SCHEMA", store.schema())
        .env("RELAY_NAME", name)
        // Its standard input stays open while this test lives: the relay ends when it closes.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    match broker {
        Broker::RabbitMq { exchange } => command
            .env("RELAY_RABBITMQ_URL", rabbitmq_url())
            .env("RELAY_EXCHANGE", exchange),
        Broker::Nats { stream, prefix } => command
            .env("RELAY_NATS_ADDRESS", nats_address())
            .env("RELAY_STREAM", stream)
            .env("RELAY_PREFIX", prefix),
    };
    let mut child = RelayProcess(command.spawn().expect("start the relay process"));
    let stdout = child.0.stdout.take().expect("its stdout");
    let ready = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("the relay leads within 30 s")
        .expect("the reading thread")
        .expect("its first line");
    assert_eq!(line.trim(), "ready", "the relay process said {line:?}");
    child
}

/// A small xorshift generator: the test's "random" moments, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
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
    let seed = u64::from(std::process::id()) ^ 0x9E37_79B9_7F4A_7C15;
    println!("kill moments seeded with {seed}");
    let mut rng = Rng(seed);
    for _ in 0..KILLS {
        let mut relay = spawn_relay(&store, &name, &broker).await;
        let run = rng.below(u64::try_from(LONGEST_RUN.as_millis()).expect("small"));
        tokio::time::sleep(Duration::from_millis(run)).await;
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
