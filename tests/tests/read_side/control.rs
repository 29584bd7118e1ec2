//! An operator's hand on projections from another process, against real Postgres (and a SQLite
//! read store): pausing every runner (the active one steps down, a standby does not take over,
//! nobody holds the claim), resuming, and rebuilding a read model while its runner leads
//! elsewhere, which then replays it exactly once per event; and what a detached rebuild refuses.

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::{is_paused, pause, rebuild_detached, resume, ProjectionError, RunnerState};
use chronicle_tests::ledger::{assert_ledger_is_replay, Ledger};
use chronicle_tests::support::{self, PgBank};
use chronicle_tests::wait::until;

use super::pace::{quick, stop};

const DEADLINE: Duration = Duration::from_secs(30);
/// Short, so that the runners see a pause within half a second (a third of it).
const LEASE: Duration = Duration::from_millis(1500);

async fn before_head(bank: &PgBank) -> Option<u64> {
    bank.store.head().await.expect("the head").position
}

async fn log(bank: &PgBank) -> Vec<RecordedEvent> {
    bank.store.read_all(0, 100_000).await.expect("the log")
}

#[tokio::test]
async fn a_pause_holds_every_runner_and_a_resume_lets_them_carry_on() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_beside(&bank.store).await;
    bank.open("p1").await;
    let active = quick(ProjectionRunner::new(
        bank.store.clone(),
        read.clone(),
        Ledger::default(),
    ))
    .lease(LEASE)
    .spawn();
    active.wait_until_caught_up(DEADLINE).await.unwrap();
    let standby = quick(ProjectionRunner::new(
        bank.store.clone(),
        read.clone(),
        Ledger::default(),
    ))
    .lease(LEASE)
    .spawn();
    until("the second runner on standby", DEADLINE, || {
        standby.state() == RunnerState::Standby
    })
    .await;

    assert!(!is_paused(&read, "test.ledger").await.unwrap());
    assert!(pause(&read, "test.ledger").await.unwrap());
    assert!(!pause(&read, "test.ledger").await.unwrap(), "paused already");
    assert!(is_paused(&read, "test.ledger").await.unwrap());
    until("both runners paused", DEADLINE, || {
        active.state() == RunnerState::Paused && standby.state() == RunnerState::Paused
    })
    .await;
    // Nobody holds the claim, so nothing can apply what is appended now.
    assert_eq!(read.holder("test.ledger").await.unwrap(), None);
    let receipt = bank.deposit("p1", 7).await;
    assert!(!active.is_leader() && !standby.is_leader());

    assert!(resume(&read, "test.ledger").await.unwrap());
    assert!(!resume(&read, "test.ledger").await.unwrap(), "resumed already");
    let side = ReadSide::new(bank.store.clone(), read.clone());
    side.wait_for::<Ledger>(receipt.position, DEADLINE).await.unwrap();
    assert_ledger_is_replay(&read, &log(&bank).await).await;
    stop(active).await;
    stop(standby).await;
}

#[tokio::test]
async fn a_detached_rebuild_is_replayed_by_the_runner_that_leads() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_beside(&bank.store).await;
    for account in ["r1", "r2", "r3"] {
        bank.open(account).await;
        for amount in 1..=5 {
            bank.deposit(account, amount).await;
        }
    }
    let runner = quick(ProjectionRunner::new(
        bank.store.clone(),
        read.clone(),
        Ledger::default(),
    ))
    .batch_size(4)
    .lease(LEASE)
    .spawn();
    runner.wait_until_caught_up(DEADLINE).await.unwrap();
    let before = runner.status().await.unwrap().checkpoint;

    // From "another process": the runner finds its checkpoint moved, steps down, leads again
    // and replays from the first event; every event ends applied once (the table was emptied).
    rebuild_detached(&read, &Ledger::default()).await.unwrap();
    let side = ReadSide::new(bank.store.clone(), read.clone());
    let status = side.status::<Ledger>().await.unwrap();
    assert!(status.checkpoint < before, "{status:?}");
    // The runner is idle (nothing new to commit): it sees the moved checkpoint when it renews
    // its claim.
    side.wait_for::<Ledger>(before_head(&bank).await, DEADLINE)
        .await
        .unwrap();
    assert_ledger_is_replay(&read, &log(&bank).await).await;
    let last = bank.deposit("r1", 100).await;
    runner.wait_for(last.position, DEADLINE).await.unwrap();
    assert_ledger_is_replay(&read, &log(&bank).await).await;
    stop(runner).await;
}

/// A read model of version 2 in a store, for the refusal of version 1's rebuild.
#[derive(Default)]
struct LedgerV2;

#[projection(name = "test.ledger", version = 2)]
impl LedgerV2 {
    #[reset]
    async fn reset(&self, _db: &mut chronicle::sqlx::PgConnection) -> Result<(), chronicle::sqlx::Error> {
        Ok(())
    }

    #[on]
    async fn opened(
        &self,
        _event: &bank::AccountOpened,
        _db: &mut chronicle::sqlx::PgConnection,
    ) -> Result<(), chronicle::sqlx::Error> {
        Ok(())
    }
}

/// A projection without `#[reset]`.
#[derive(Default)]
struct NoReset;

#[projection(name = "test.no_reset", version = 1)]
impl NoReset {
    #[on]
    async fn opened(
        &self,
        _event: &bank::AccountOpened,
        _db: &mut chronicle::sqlx::PgConnection,
    ) -> Result<(), chronicle::sqlx::Error> {
        Ok(())
    }
}

#[tokio::test]
async fn a_detached_rebuild_refuses_another_version_a_projection_without_reset_and_partitions() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_beside(&bank.store).await;
    bank.open("x").await;
    let v2 = quick(ProjectionRunner::new(bank.store.clone(), read.clone(), LedgerV2)).spawn();
    v2.wait_until_caught_up(DEADLINE).await.unwrap();
    stop(v2).await;
    let error = rebuild_detached(&read, &Ledger::default()).await.unwrap_err();
    assert!(
        matches!(
            error,
            ProjectionError::OtherVersion {
                stored: 2,
                current: 1,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("is version 2, this code's is 1"),
        "{error}"
    );

    let error = rebuild_detached(&read, &NoReset).await.unwrap_err();
    assert!(matches!(error, ProjectionError::NoReset { .. }), "{error}");

    // A partitioned read model is rebuilt by its workers (a new partition count), not from here.
    let other = support::postgres_read_store_elsewhere().await;
    let worker = PartitionedRunner::new(bank.store.clone(), other.clone(), Ledger::default(), 2).spawn();
    worker.wait_until_caught_up(DEADLINE).await.unwrap();
    worker.stop().await.into_result().unwrap();
    let error = rebuild_detached(&other, &Ledger::default()).await.unwrap_err();
    assert!(
        matches!(error, ProjectionError::Partitioned { partitions: 2, .. }),
        "{error}"
    );
}
