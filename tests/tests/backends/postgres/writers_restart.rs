//! A Postgres restart under 8 concurrent writers that try each command again with the same
//! command id until it is acknowledged, on a cluster of the test's own (`ThrowawayPostgres`),
//! through one `Chronicle` and one pool that live through the restart:
//! - the only error a command meets during the outage is `CommandError::Store` holding
//!   `StoreError::Unavailable`;
//! - every writer's commands succeed again within seconds of the server being back, without a
//!   new `Chronicle` or pool;
//! - every acknowledged command is in the log exactly once, including those whose attempt failed
//!   with the outcome unknown (the stop lands while commits are in flight: a deferred trigger
//!   makes each commit take 20 ms; the test counts those found committed despite their error);
//! - and any acknowledged command submitted again with its command id is not applied again: the
//!   case of a commit that succeeded but whose answer was lost, made deterministic.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chronicle::prelude::*;
use chronicle::StoreError;
use chronicle_tests::conformance::write::{deposit, open};
use chronicle_tests::throwaway::ThrowawayPostgres;
use sqlx::postgres::PgPoolOptions;
use tokio::time::Instant;
use uuid::Uuid;

const WRITERS: usize = 8;
/// Commands each writer has acknowledged before the restart, and after it.
const BEFORE: usize = 15;
const AFTER: usize = 15;
/// How long the server stays down: longer than the pool waits for a connection, so that every
/// writer's commands fail for a while rather than only wait.
const DOWN: Duration = Duration::from_secs(3);
/// The most a writer may take to succeed again once the server accepts connections.
const BACK_WITHIN: Duration = Duration::from_secs(5);
/// How long the whole scenario may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// What one writer saw.
#[derive(Default)]
struct Seen {
    /// Acknowledged commands: command id, amount, and when.
    acknowledged: Vec<(Uuid, i64, Instant)>,
    /// How many attempts failed as `Unavailable`.
    unavailable: usize,
    /// Commands whose failed attempt was in fact committed (found by their id before the retry).
    committed_despite_the_error: usize,
    /// Any error other than `Unavailable`: none is allowed.
    unexpected: Vec<String>,
}

async fn writer(
    app: Chronicle<PostgresStore>,
    store: PostgresStore,
    account: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let until = Instant::now() + DEADLINE;
    let mut amount = 0_i64;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        amount += 1;
        let command_id = Uuid::new_v4();
        let mut found_committed = false;
        loop {
            let context = CommandContext::new().command_id(command_id);
            match app.execute_with(deposit(&account, amount), context).await {
                Ok(receipt) => {
                    assert_eq!(receipt.stream_id, format!("bank.Account-{account}"));
                    seen.lock()
                        .unwrap()
                        .acknowledged
                        .push((command_id, amount, Instant::now()));
                    break;
                }
                Err(CommandError::Store(StoreError::Unavailable(_))) if Instant::now() < until => {
                    seen.lock().unwrap().unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    // Was the attempt that failed committed after all? Asked once the server
                    // answers again (until then this fails too, and the retry finds out).
                    if !found_committed && matches!(store.find_command(command_id).await, Ok(Some(_))) {
                        found_committed = true;
                        seen.lock().unwrap().committed_despite_the_error += 1;
                    }
                }
                Err(other) => {
                    seen.lock().unwrap().unexpected.push(format!("{other:?}"));
                    return;
                }
            }
        }
    }
}

fn acknowledged(seen: &[Arc<Mutex<Seen>>]) -> Vec<usize> {
    seen.iter()
        .map(|s| s.lock().unwrap().acknowledged.len())
        .collect()
}

async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn eight_writers_retrying_by_command_id_through_a_restart_lose_and_double_nothing() {
    let started = Instant::now();
    let cluster = ThrowawayPostgres::start();
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(1))
        .test_before_acquire(false)
        .connect(&cluster.url())
        .await
        .expect("connect to the throwaway cluster");
    let store = PostgresStore::from_pool(pool);
    store.migrate().await.expect("migrate");
    // Every commit takes 20 ms in a deferred trigger, so that the stop lands while commits are
    // in flight: their writers cannot know whether they were applied.
    for statement in [
        "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(0.02); RETURN NULL; END $$",
        "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON chronicle_events \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()",
    ] {
        sqlx::query(statement)
            .execute(store.pool())
            .await
            .expect("slow the commits down");
    }
    let app = Chronicle::new(store.clone());
    let accounts: Vec<String> = (0..WRITERS).map(|i| format!("w-{i}")).collect();
    for account in &accounts {
        app.execute(open(account)).await.expect("open");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let seen: Vec<Arc<Mutex<Seen>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let writers: Vec<_> = accounts
        .iter()
        .zip(&seen)
        .map(|(account, seen)| {
            tokio::spawn(writer(
                app.clone(),
                store.clone(),
                account.clone(),
                stop.clone(),
                seen.clone(),
            ))
        })
        .collect();

    until("every writer has written before the restart", || {
        acknowledged(&seen).iter().all(|n| *n >= BEFORE)
    })
    .await;
    // Stopped at once, with commands in flight on every writer.
    cluster.stop_immediately();
    let at_stop = acknowledged(&seen);
    tokio::time::sleep(DOWN).await;
    cluster.start_again();
    let back = Instant::now();
    until("every writer has written after the restart", || {
        acknowledged(&seen)
            .iter()
            .zip(&at_stop)
            .all(|(now, then)| *now >= then + AFTER)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        tokio::time::timeout(DEADLINE, writer)
            .await
            .expect("the writer stops")
            .expect("the writer did not panic");
    }

    let seen: Vec<Seen> = seen
        .into_iter()
        .map(|s| std::mem::take(&mut *s.lock().unwrap()))
        .collect();
    let unexpected: Vec<&String> = seen.iter().flat_map(|s| &s.unexpected).collect();
    assert!(
        unexpected.is_empty(),
        "errors other than Unavailable: {unexpected:?}"
    );
    let unavailable: usize = seen.iter().map(|s| s.unavailable).sum();
    let untouched = seen.iter().filter(|s| s.unavailable == 0).count();
    assert_eq!(untouched, 0, "writers that never met the outage");

    // Back within seconds: each writer's first success after the server accepts connections.
    let mut slowest = Duration::ZERO;
    for s in &seen {
        let first = s
            .acknowledged
            .iter()
            .map(|(_, _, at)| *at)
            .find(|at| *at >= back)
            .expect("a command after the restart");
        slowest = slowest.max(first - back);
    }
    assert!(
        slowest < BACK_WITHIN,
        "a writer took {slowest:?} to succeed again"
    );

    // Each acknowledged command exactly once in the log, and nothing else appended.
    let log = store.read_all(0, 1_000_000).await.unwrap();
    let mut per_command: BTreeMap<Uuid, usize> = BTreeMap::new();
    for event in log.iter().filter(|e| e.event_type == "bank.MoneyDeposited") {
        *per_command.entry(event.metadata.command_id).or_default() += 1;
    }
    let acknowledged: Vec<Uuid> = seen
        .iter()
        .flat_map(|s| s.acknowledged.iter().map(|(id, _, _)| *id))
        .collect();
    for id in &acknowledged {
        assert_eq!(per_command.get(id), Some(&1), "command {id} in the log once");
    }
    assert_eq!(
        per_command.len(),
        acknowledged.len(),
        "no unacknowledged command in the log"
    );

    // Submitted again by its id, an acknowledged command gets its receipt and appends nothing.
    let head = store.head().await.unwrap().position;
    for (s, account) in seen.iter().zip(&accounts) {
        for (id, amount, _) in &s.acknowledged {
            let context = CommandContext::new().command_id(*id);
            let receipt = app
                .execute_with(deposit(account, *amount), context)
                .await
                .expect("the same command again");
            assert_eq!(store.find_command(*id).await.unwrap(), Some(receipt));
        }
    }
    assert_eq!(
        store.head().await.unwrap().position,
        head,
        "nothing appended twice"
    );
    let committed_despite_the_error: usize = seen.iter().map(|s| s.committed_despite_the_error).sum();
    println!(
        "{} commands acknowledged by {WRITERS} writers, {unavailable} attempts unavailable, \
         {committed_despite_the_error} committed despite their error, slowest back after {slowest:?}, \
         {:?} in all",
        acknowledged.len(),
        started.elapsed()
    );
}
