//! A projection's status says how far through the log it is in numbers a person can compare with
//! the head (issue 10, defect 4), and tells what is committed but held back by an older open
//! transaction apart from what is ready and not applied; a wait that times out says what it
//! waited for (defect 12).

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::sqlx::{self, Connection as _};

use chronicle_tests::wait::{eventually, DEADLINE};

use chronicle_tests::conformance::write::{deposit, open};
use chronicle_tests::counts::{Counts, PortableCounts};
use chronicle_tests::support;

#[tokio::test]
async fn a_caught_up_postgres_runner_reports_the_heads_position() {
    let store = crate::fresh_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    let bank = Chronicle::new(store.clone());
    bank.execute(open("a")).await.expect("open");
    bank.execute(deposit("a", 1)).await.expect("deposit");
    // The newest event is of a type the view does not handle.
    let last = bank
        .execute(bank::Withdraw {
            account_id: "a".into(),
            amount: 1,
        })
        .await
        .expect("withdraw");
    let runner = ProjectionRunner::new(store.clone(), read, Counts).spawn();
    runner
        .wait_for(last.position, Duration::from_secs(10))
        .await
        .expect("caught up");

    // Unrelated transactions elsewhere on the server move Postgres' horizon; the position stays.
    let mut other = sqlx::PgConnection::connect(&chronicle_tests::support::database_url())
        .await
        .expect("connect");
    for _ in 0..3 {
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut other)
            .await
            .expect("a transaction id");
    }
    eventually("the status to show the head's position", DEADLINE, || async {
        let status = runner.status().await.expect("status");
        (status.position == status.head_position && status.lag_events == 0).then_some(())
    })
    .await;
    let status = runner.status().await.expect("status");
    assert_eq!(status.head_position, last.position);
    assert_eq!(status.held_back_events, 0);
    assert_eq!(status.held_back_by, None);
    runner.stop().await.into_result().expect("a clean stop");
}

#[tokio::test]
async fn a_caught_up_sqlite_runner_reports_the_heads_position() {
    let path = std::env::temp_dir().join(format!("chronicle-status-{}.db", uuid::Uuid::new_v4().simple()));
    let store = SqliteStore::open(&path).await.expect("open");
    store.migrate().await.expect("migrate");
    let read = SqliteReadStore::open(&path).await.expect("read store");
    read.migrate().await.expect("migrate");
    let bank = Chronicle::new(store.clone());
    bank.execute(open("a")).await.expect("open");
    let last = bank.execute(deposit("a", 1)).await.expect("deposit");
    let runner =
        ProjectionRunner::new(store.clone(), chronicle::SqlReadStore::from(read), PortableCounts).spawn();
    runner
        .wait_for(last.position, Duration::from_secs(10))
        .await
        .expect("caught up");
    let status = runner.status().await.expect("status");
    assert_eq!(status.position, last.position);
    assert_eq!(status.position, status.head_position);
    assert_eq!((status.lag_events, status.held_back_events), (0, 0));
    runner.stop().await.into_result().expect("a clean stop");
}

/// On a cluster of its own: the horizon is the whole server's, so on the shared one the oldest
/// open transaction could be another test's.
#[tokio::test]
async fn events_held_back_by_an_open_transaction_are_reported_as_such() {
    let cluster = chronicle_tests::throwaway::ThrowawayPostgres::start();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&cluster.url())
        .await
        .expect("connect to the throwaway cluster");
    let store = PostgresStore::from_pool(pool);
    store.migrate().await.expect("migrate");
    let read = support::postgres_read_store_beside(&store).await;
    let bank = Chronicle::new(store.clone());
    let first = bank.execute(open("a")).await.expect("open");
    let runner = ProjectionRunner::new(store.clone(), read.clone(), Counts).spawn();
    runner
        .wait_for(first.position, Duration::from_secs(10))
        .await
        .expect("caught up");

    // A transaction that has written (it holds a transaction id) and stays open.
    let mut holder = sqlx::PgConnection::connect(&cluster.url())
        .await
        .expect("connect");
    sqlx::query("BEGIN").execute(&mut holder).await.expect("begin");
    let holder_xid: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text")
        .fetch_one(&mut holder)
        .await
        .expect("a transaction id");
    // Committed after it started: not safe to deliver until it ends.
    let held = bank.execute(deposit("a", 1)).await.expect("deposit");

    let status = runner.status().await.expect("status");
    assert_eq!(status.lag_events, 0, "nothing is ready: {status:?}");
    assert_eq!(status.held_back_events, 1, "{status:?}");
    let held_back_by = status.held_back_by.clone().expect("who holds it back");
    assert!(held_back_by.contains(&holder_xid), "{held_back_by}");
    assert_eq!(status.position, first.position);

    let side = ReadSide::new(store.clone(), read);
    let error = side
        .wait_for::<Counts>(held.position, Duration::from_millis(200))
        .await
        .expect_err("held back");
    let message = error.to_string();
    assert!(
        matches!(
            error,
            ProjectionError::Timeout {
                ready: 0,
                held_back: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        message.contains("held back until an older transaction ends"),
        "{message}"
    );
    assert!(message.contains(&holder_xid), "{message}");

    // Once the transaction ends, the event is applied.
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("rollback");
    side.wait_for::<Counts>(held.position, Duration::from_secs(10))
        .await
        .expect("applied once the transaction ended");
    runner.stop().await.into_result().expect("a clean stop");
}
