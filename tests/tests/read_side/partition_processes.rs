//! Partitioned projections across processes, against real Postgres: three worker processes of
//! the test ledger (`src/bin/partition_worker.rs`) while commands append; one is killed
//! (`kill -9`) at random moments and restarted, or paused (`SIGSTOP`) past its lease and resumed.
//! At the end the ledger equals a replay of the log, each event applied exactly once.

use std::process::Command;
use std::time::Duration;

use chronicle::prelude::*;
use chronicle_tests::ledger::assert_ledger_is_replay;
use chronicle_tests::process::{Killable, Rng};
use chronicle_tests::support::{self, PgBank};

const PARTITIONS: u32 = 4;
const DEADLINE: Duration = Duration::from_secs(60);

async fn start(bank: &PgBank, read: &PostgresReadStore, lease: Duration) -> Killable {
    let mut command = Command::new(env!("CARGO_BIN_EXE_partition_worker"));
    command
        .env("WORKER_EVENTS_URL", support::database_url())
        .env("WORKER_EVENTS_SCHEMA", bank.store.schema())
        .env("WORKER_READ_URL", support::read_database_url())
        .env("WORKER_READ_SCHEMA", read.schema())
        .env("WORKER_PARTITIONS", PARTITIONS.to_string())
        .env("WORKER_LEASE_MS", lease.as_millis().to_string());
    Killable::start(command).await
}

/// Appends `rounds` deposits over a dozen accounts, pausing a little between them.
async fn traffic(bank: &PgBank, from: i64, rounds: i64) {
    for round in from..from + rounds {
        for account in 0..12 {
            bank.deposit(&format!("k{account}"), round + 1).await;
        }
    }
}

/// Waits until every partition's checkpoint includes the whole log, whoever runs it.
async fn caught_up(bank: &PgBank, read: &PostgresReadStore) {
    let head = bank.store.head().await.unwrap();
    let side = ReadSide::new(bank.store.clone(), read.clone());
    side.wait_for::<chronicle_tests::ledger::Ledger>(head.position, DEADLINE)
        .await
        .unwrap();
}

async fn log(bank: &PgBank) -> Vec<RecordedEvent> {
    bank.store.read_all(0, 1_000_000).await.unwrap()
}

#[tokio::test]
async fn workers_killed_at_random_moments_leave_each_event_applied_once() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    for account in 0..12 {
        bank.open(&format!("k{account}")).await;
    }
    let lease = Duration::from_secs(2);
    let mut workers = [
        start(&bank, &read, lease).await,
        start(&bank, &read, lease).await,
        start(&bank, &read, lease).await,
    ];
    let mut rng = Rng::seeded();
    // Six kills, each at a random moment of a burst of appends, of a random worker.
    for kill in 0..6 {
        let victim = rng.below(3) as usize;
        let appending = traffic(&bank, kill * 10, 4);
        let pause = rng.pause(Duration::from_millis(400));
        let killing = async {
            tokio::time::sleep(pause).await;
            workers[victim].kill();
        };
        tokio::join!(appending, killing);
        workers[victim] = start(&bank, &read, lease).await;
    }
    caught_up(&bank, &read).await;
    assert_ledger_is_replay(&read, &log(&bank).await).await;
}

#[tokio::test]
async fn a_worker_paused_past_its_lease_does_not_commit_on_partitions_taken_over() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    for account in 0..12 {
        bank.open(&format!("k{account}")).await;
    }
    let lease = Duration::from_millis(1_500);
    let paused = start(&bank, &read, lease).await;
    let others = [start(&bank, &read, lease).await, start(&bank, &read, lease).await];
    traffic(&bank, 0, 3).await;
    caught_up(&bank, &read).await;

    // Paused mid-traffic for twice its lease: the server ends its idle sessions, the other
    // workers take its partitions and go on. Resumed, it finds its sessions gone and rejoins.
    let appending = traffic(&bank, 3, 6);
    let pausing = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        paused.signal("STOP");
        tokio::time::sleep(lease * 2).await;
        // Taken over while it sleeps: every partition advances without it.
        let head = bank.store.head().await.unwrap();
        let side = ReadSide::new(bank.store.clone(), read.clone());
        side.wait_for::<chronicle_tests::ledger::Ledger>(head.position, DEADLINE)
            .await
            .expect("the partitions of the paused worker were taken over");
        paused.signal("CONT");
    };
    tokio::join!(appending, pausing);
    traffic(&bank, 9, 3).await;
    caught_up(&bank, &read).await;
    assert_ledger_is_replay(&read, &log(&bank).await).await;
    drop(others);
    drop(paused);
}
