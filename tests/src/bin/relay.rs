//! A relay in a process of its own, for the tests that kill it (`kill -9`) at random moments.
//!
//! Configured by the environment: `RELAY_DATABASE_URL` and `RELAY_SCHEMA` (the event store,
//! and the read store beside it that keeps the checkpoint), `RELAY_NAME`, and the broker:
//! `RELAY_RABBITMQ_URL` + `RELAY_EXCHANGE`, or `RELAY_NATS_ADDRESS` + `RELAY_STREAM` +
//! `RELAY_PREFIX`. It publishes until it is killed, printing `ready` once it leads. It also ends
//! by itself when its standard input closes (the test that started it is gone) or after two
//! minutes, so that no test leaves a relay running.

use std::time::Duration;

use chronicle::{
    NatsPublisher, PostgresReadStore, PostgresStore, ProjectionRunner, RabbitMqPublisher, Relay,
};
use chronicle_tests::process::{end_with_the_test, var};

/// The longest a relay process lives.
const LIFETIME: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    end_with_the_test(LIFETIME);
    let store = PostgresStore::connect(&var("RELAY_DATABASE_URL"))
        .await?
        .with_schema(&var("RELAY_SCHEMA"))?;
    let read = PostgresReadStore::beside(&store);
    read.migrate().await?;
    let name: &'static str = Box::leak(var("RELAY_NAME").into_boxed_str());
    if let Ok(url) = std::env::var("RELAY_RABBITMQ_URL") {
        let publisher = RabbitMqPublisher::new(url).exchange(var("RELAY_EXCHANGE"));
        run(ProjectionRunner::new(store, read, Relay::new(name, publisher)).batch_size(7)).await
    } else {
        let publisher = NatsPublisher::new(var("RELAY_NATS_ADDRESS"))
            .stream(var("RELAY_STREAM"))
            .subject_prefix(var("RELAY_PREFIX"));
        run(ProjectionRunner::new(store, read, Relay::new(name, publisher)).batch_size(7)).await
    }
}

async fn run<P: chronicle::Projection<Store = PostgresReadStore>>(
    runner: ProjectionRunner<P, PostgresStore>,
) -> Result<(), Box<dyn std::error::Error>> {
    let handle = runner.poll_interval(Duration::from_millis(20)).spawn();
    while !handle.is_leader() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("ready");
    // What it meets goes to stderr, which the tests show when they fail.
    let mut reported = None;
    while !handle.is_finished() {
        let status = handle.status().await;
        if std::env::var_os("RELAY_VERBOSE").is_some() {
            eprintln!("relay: {status:?}");
        }
        let error = status.ok().and_then(|status| status.last_error);
        if error.is_some() && error != reported {
            eprintln!("relay: {}", error.as_deref().unwrap_or_default());
            reported = error;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    handle.join().await?;
    Ok(())
}
