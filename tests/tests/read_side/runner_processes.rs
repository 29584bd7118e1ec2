//! A plain projection runner across processes, against real Postgres: the test ledger's runner
//! (`src/bin/projection_runner.rs`) is killed with `kill -9` at 50 random moments while a writer
//! appends, and started again each time. At the end the ledger equals a replay of the log and
//! its count of applications per event shows none applied twice: a batch, its ledger rows and
//! its checkpoint commit together or not at all. The moments come from a seeded generator whose
//! seed the test prints (`CHRONICLE_TEST_SEED=<seed>` replays them).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chronicle::prelude::*;
use chronicle_tests::ledger::{assert_ledger_is_replay, ledger, Ledger};
use chronicle_tests::process::{Killable, Rng};
use chronicle_tests::support::{self, PgBank};

const KILLS: usize = 50;
const ACCOUNTS: usize = 8;
const DEADLINE: Duration = Duration::from_secs(60);

async fn start(bank: &PgBank, read: &PostgresReadStore) -> Killable {
    let mut command = Command::new(env!("CARGO_BIN_EXE_projection_runner"));
    command
        .env("RUNNER_EVENTS_URL", support::database_url())
        .env("RUNNER_EVENTS_SCHEMA", bank.store.schema())
        .env("RUNNER_READ_URL", support::read_database_url())
        .env("RUNNER_READ_SCHEMA", read.schema());
    Killable::start(command).await
}

#[tokio::test]
async fn a_runner_killed_at_fifty_random_moments_applies_each_event_once() {
    let started = Instant::now();
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    for account in 0..ACCOUNTS {
        bank.open(&format!("r{account}")).await;
    }
    // One writer appending all along, a little apart, until the kills are over.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let app = bank.bank.clone();
        let stop = stop.clone();
        async move {
            let mut appended = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                let account = format!("r{}", appended % ACCOUNTS as u64);
                app.execute(bank::Deposit {
                    account_id: account,
                    amount: 1 + (appended % 7) as i64,
                })
                .await
                .expect("deposit");
                appended += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            appended
        }
    });

    let mut rng = Rng::seeded();
    let mut runner = start(&bank, &read).await;
    let mut applied_at_kills = Vec::with_capacity(KILLS);
    for _ in 0..KILLS {
        // A random moment of its work: often within the first batches after it took the lead,
        // sometimes well into its catch-up of what was appended meanwhile.
        tokio::time::sleep(rng.pause(Duration::from_millis(250))).await;
        runner.kill();
        applied_at_kills.push(ledger(&read).await.len());
        runner = start(&bank, &read).await;
    }
    stop.store(true, Ordering::Relaxed);
    let appended = writer.await.expect("the writer");

    let head = bank.store.head().await.unwrap();
    ReadSide::new(bank.store.clone(), read.clone())
        .wait_for::<Ledger>(head.position, DEADLINE)
        .await
        .expect("the last runner catches up");
    let log = bank.store.read_all(0, 1_000_000).await.unwrap();
    assert_ledger_is_replay(&read, &log).await;
    drop(runner);

    // The kills landed while there was work: the ledger grew between kills most of the time.
    let grew = applied_at_kills.windows(2).filter(|w| w[1] > w[0]).count();
    println!(
        "{KILLS} kills, {appended} deposits and {} events in {:?}; the ledger grew between {grew} \
         pairs of kills",
        log.len(),
        started.elapsed()
    );
    assert!(
        grew >= KILLS / 2,
        "the runner was killed while idle too often: {applied_at_kills:?}"
    );
}
