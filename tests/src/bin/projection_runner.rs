//! One plain (not partitioned) projection runner of the test ledger in a process of its own, for
//! the test that kills it (`kill -9`) at many random moments while a writer appends.
//!
//! Configured by the environment: `RUNNER_EVENTS_URL` and `RUNNER_EVENTS_SCHEMA` (the Postgres
//! event store), `RUNNER_READ_URL` and `RUNNER_READ_SCHEMA` (the Postgres read store). It prints
//! `ready` once it leads (holds the projection's advisory lock), then applies the ledger until it
//! is killed. It also ends by itself when its standard input closes (the test that started it is
//! gone) or after two minutes.

use std::time::Duration;

use chronicle::{PostgresReadStore, PostgresStore, ProjectionRunner};
use chronicle_tests::ledger::Ledger;
use chronicle_tests::process::{end_with_the_test, var};

/// The longest a runner process lives.
const LIFETIME: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    end_with_the_test(LIFETIME);
    let events = PostgresStore::connect(&var("RUNNER_EVENTS_URL"))
        .await?
        .with_schema(&var("RUNNER_EVENTS_SCHEMA"))?;
    let read = PostgresReadStore::connect(&var("RUNNER_READ_URL"))
        .await?
        .with_schema(&var("RUNNER_READ_SCHEMA"))?;
    // Small batches, so that kills land between many commits and inside many transactions.
    let handle = ProjectionRunner::new(events, read, Ledger::default())
        .batch_size(5)
        .poll_interval(Duration::from_millis(50))
        .spawn();
    while !handle.is_leader() {
        if handle.is_finished() {
            return Err(format!("the runner ended before it led: {:?}", handle.join().await).into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("ready");
    handle.join().await?;
    Ok(())
}
