//! A consumer in a process of its own, for the tests that kill it (`kill -9`) at random moments.
//! It has no access to the event store: only a read store and a broker.
//!
//! Configured by the environment: `CONSUMER_READ_URL` and `CONSUMER_SCHEMA` (its Postgres read
//! store), `CONSUMER_NAME`, and the broker: `CONSUMER_RABBITMQ_URL` + `CONSUMER_EXCHANGE`, or
//! `CONSUMER_NATS_ADDRESS` + `CONSUMER_STREAM` + `CONSUMER_PREFIX`. It applies the test ledger
//! until it is killed, printing `ready` once it leads and has subscribed. It also ends by itself when its standard
//! input closes (the test that started it is gone) or after two minutes.

use std::time::Duration;

use chronicle::{Consumer, NatsSubscriber, PostgresReadStore, RabbitMqSubscriber, Subscriber};
use chronicle_tests::ledger::Ledger;
use chronicle_tests::process::{end_with_the_test, var};

/// The longest a consumer process lives.
const LIFETIME: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    end_with_the_test(LIFETIME);
    let read = PostgresReadStore::connect(&var("CONSUMER_READ_URL"))
        .await?
        .with_schema(&var("CONSUMER_SCHEMA"))?;
    read.migrate().await?;
    let name: &'static str = Box::leak(var("CONSUMER_NAME").into_boxed_str());
    if let Ok(url) = std::env::var("CONSUMER_RABBITMQ_URL") {
        run(
            RabbitMqSubscriber::new(url).exchange(var("CONSUMER_EXCHANGE")),
            read,
            name,
        )
        .await
    } else {
        let subscriber = NatsSubscriber::new(var("CONSUMER_NATS_ADDRESS"))
            .stream(var("CONSUMER_STREAM"))
            .subject_prefix(var("CONSUMER_PREFIX"));
        run(subscriber, read, name).await
    }
}

async fn run<B: Subscriber>(
    subscriber: B,
    read: PostgresReadStore,
    name: &'static str,
) -> Result<(), Box<dyn std::error::Error>> {
    // Small batches, so that kills land between many commits.
    let handle = Consumer::new(subscriber, read, Ledger::default())
        .name(name)
        .batch_size(5)
        .spawn();
    // Ready once subscribed: a RabbitMQ queue then exists and is bound, so nothing published
    // from now on passes it by.
    handle.wait_until_subscribed(LIFETIME).await?;
    println!("ready");
    // What it meets goes to stderr, which the tests show when they fail: each new error, and
    // its state every second.
    let mut reported = None;
    let mut ticks = 0u32;
    while !handle.is_finished() {
        let status = handle.status().await;
        ticks += 1;
        if ticks % 10 == 0 {
            eprintln!("consumer {}: {status:?}", std::process::id());
        }
        let error = status.ok().and_then(|status| status.last_error);
        if error.is_some() && error != reported {
            eprintln!(
                "consumer {}: {}",
                std::process::id(),
                error.as_deref().unwrap_or_default()
            );
            reported = error;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    handle.join().await?;
    Ok(())
}
