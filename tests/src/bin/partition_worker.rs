//! One worker of a partitioned projection in a process of its own, for the tests that kill it
//! (`kill -9`) or pause it (`SIGSTOP`) at random moments.
//!
//! Configured by the environment: `WORKER_EVENTS_URL` and `WORKER_EVENTS_SCHEMA` (the Postgres
//! event store), `WORKER_READ_URL` and `WORKER_READ_SCHEMA` (the Postgres read store),
//! `WORKER_PARTITIONS`, `WORKER_LEASE_MS`. It applies the test ledger until it is killed,
//! printing `ready` once it has a slot among the workers. It also ends by itself when its
//! standard input closes (the test that started it is gone) or after two minutes.

use std::time::Duration;

use chronicle::{PartitionedRunner, PostgresReadStore, PostgresStore};
use chronicle_tests::ledger::Ledger;
use chronicle_tests::process::{end_with_the_test, var};

/// The longest a worker process lives.
const LIFETIME: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    end_with_the_test(LIFETIME);
    let events = PostgresStore::connect(&var("WORKER_EVENTS_URL"))
        .await?
        .with_schema(&var("WORKER_EVENTS_SCHEMA"))?;
    let read = PostgresReadStore::connect(&var("WORKER_READ_URL"))
        .await?
        .with_schema(&var("WORKER_READ_SCHEMA"))?;
    let partitions: u32 = var("WORKER_PARTITIONS").parse()?;
    let lease = Duration::from_millis(var("WORKER_LEASE_MS").parse()?);
    // Small batches, so that kills land between many commits.
    let handle = PartitionedRunner::new(events, read, Ledger::default(), partitions)
        .batch_size(5)
        .poll_interval(Duration::from_millis(50))
        .lease(lease)
        .spawn();
    loop {
        if handle.slot().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("ready");
    handle.join().await?;
    Ok(())
}
