//! A Postgres restart costs a runner a reconnection, not a minute of backoff, and a consistent
//! query waiting through it still answers (issue 10, defect 10). Each test restarts a cluster of
//! its own (`ThrowawayPostgres`), never the shared server.

use std::time::Duration;

use bank::views::postgres::{AccountBalances, BalanceOf};
use chronicle::prelude::*;
use chronicle::StoreError;
use chronicle_tests::throwaway::ThrowawayPostgres;
use futures_util::future::join_all;
use sqlx::postgres::PgPoolOptions;
use tokio::time::Instant;

use chronicle_tests::conformance::write::{deposit, open};

async fn stores(cluster: &ThrowawayPostgres) -> (PostgresStore, PostgresReadStore) {
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(false)
        .connect(&cluster.url())
        .await
        .expect("connect to the throwaway cluster");
    let store = PostgresStore::from_pool(pool.clone());
    store.migrate().await.expect("migrate");
    let read = PostgresReadStore::from_pool(pool);
    read.migrate().await.expect("migrate the read store");
    (store, read)
}

/// A command, tried again while the store reports the server as away (a restart is not the
/// command's fault); at most for `patience`.
async fn execute_until_up<C: Command>(
    bank: &Chronicle<PostgresStore>,
    command: impl Fn() -> C,
    patience: Duration,
) -> Receipt
where
    chronicle::RejectionOf<C>: std::fmt::Debug,
{
    let until = Instant::now() + patience;
    loop {
        match bank.execute(command()).await {
            Ok(receipt) => return receipt,
            Err(CommandError::Store(StoreError::Unavailable(error))) if Instant::now() < until => {
                tracing_free_note(&error.to_string());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("the command failed: {other:?}"),
        }
    }
}

/// Keeps the error visible when a test is run with `--nocapture`.
fn tracing_free_note(message: &str) {
    eprintln!("store unavailable (expected during the restart): {message}");
}

#[tokio::test]
async fn a_live_runner_applies_again_soon_after_postgres_comes_back() {
    let cluster = ThrowawayPostgres::start();
    let (store, read) = stores(&cluster).await;
    let bank = Chronicle::new(store.clone());
    // Writers in parallel leave the store holding as many idle connections as its pool allows:
    // after the restart every one of them is dead, as in the run that found the defect.
    let accounts: Vec<String> = (0..10).map(|i| format!("a-{i}")).collect();
    for account in &accounts {
        bank.execute(open(account)).await.expect("open");
    }
    let mut last = None;
    for amount in 1..=5 {
        let receipts = join_all(
            accounts
                .iter()
                .map(|account| bank.execute(deposit(account, amount))),
        )
        .await;
        last = receipts.into_iter().map(|r| r.expect("deposit")).last();
    }
    let runner = ProjectionRunner::new(store.clone(), read.clone(), AccountBalances).spawn();
    runner
        .wait_for(last.and_then(|r| r.position), Duration::from_secs(20))
        .await
        .expect("caught up before the restart");

    // Down for half a second, as an immediate shutdown and start would leave it.
    cluster.restart_after(Duration::from_millis(500)).await;
    let answering = Instant::now();
    // Written through another store, so that the runner's store still holds every dead
    // connection and the runner is the one to find them.
    let (other, other_read) = stores(&cluster).await;
    let after = execute_until_up(
        &Chronicle::new(other.clone()),
        || deposit("a-0", 100),
        Duration::from_secs(10),
    )
    .await;
    // Waited for through the other stores too: waiting must not wear the dead connections out
    // on the runner's behalf.
    ReadSide::new(other, other_read)
        .wait_for::<AccountBalances>(after.position, Duration::from_secs(60))
        .await
        .expect("applied after the restart");
    let recovered = answering.elapsed();
    eprintln!("applying again {recovered:?} after the server answered");
    // The defect: each dead connection failed once and doubled the backoff (to 10 s at most), so
    // nothing was applied for 53 s. A dead connection now condemns the idle ones opened before
    // it and costs no pause, and pauses stop at one second.
    assert!(recovered < Duration::from_secs(3), "took {recovered:?}");
    let status = runner.status().await.expect("status");
    assert_eq!(status.lag_events, 0);
    assert_eq!(status.position, status.head_position);
    runner.stop().await.into_result().expect("a clean stop");
}

#[tokio::test]
async fn a_consistent_query_waits_through_a_restart_shorter_than_its_timeout() {
    let cluster = ThrowawayPostgres::start();
    let (store, read) = stores(&cluster).await;
    let bank = Chronicle::new(store.clone());
    bank.execute(open("q")).await.expect("open");
    let receipt = bank.execute(deposit("q", 7)).await.expect("deposit");
    let side = ReadSide::new(store.clone(), read.clone());

    // Waiting before any runner applies the deposit: the wait spans the restart.
    let waiting = tokio::spawn({
        let side = side.clone();
        let receipt = receipt.clone();
        async move {
            side.query_consistent(
                &AccountBalances,
                &BalanceOf {
                    account_id: "q".into(),
                },
                &receipt,
                Duration::from_secs(30),
            )
            .await
        }
    });
    cluster.restart_after(Duration::from_secs(1)).await;
    if waiting.is_finished() {
        panic!("the wait gave up during the restart: {:?}", waiting.await);
    }
    let runner = ProjectionRunner::new(store.clone(), read, AccountBalances).spawn();
    let answer = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the wait ends within its timeout")
        .expect("the task ran")
        .expect("the consistent query answers after the restart")
        .expect("the account is in the view");
    assert_eq!(answer.balance, 7);
    runner.stop().await.into_result().expect("a clean stop");
}
