//! Events a runner cannot read or decode are poison events like any other, at once: the policy
//! applies, the error names the row, and a row of a type the projection does not handle never
//! stops it (issue 10, defects 6 and 9).

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::sqlx::{self, Row as _};
use chronicle::{RetryPolicy, StoreError};

use chronicle_tests::conformance::write::open;
use chronicle_tests::counts::{counted, good_metadata, insert_raw, Counts, PortableCounts};
use chronicle_tests::support;

/// A runner whose retries would take seconds, so that a poison policy applied "at once" shows.
fn patient() -> RetryPolicy {
    RetryPolicy::new(5, Duration::from_millis(400))
}

#[tokio::test]
async fn unreadable_rows_of_handled_types_are_dead_lettered_and_the_runner_goes_on() {
    let store = crate::fresh_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    let bank = Chronicle::new(store.clone());
    bank.execute(open("a")).await.expect("open");
    // Rows Chronicle could not have written, of a type the view handles: metadata that is not
    // Chronicle's, and a negative version.
    let empty_metadata = insert_raw(
        &store,
        "bank.Account-a",
        2,
        "bank.MoneyDeposited",
        1,
        r#"{"account_id":"a","amount":1}"#,
        "{}",
    )
    .await;
    let negative_version = insert_raw(
        &store,
        "bank.Account-a",
        3,
        "bank.MoneyDeposited",
        -1,
        r#"{"account_id":"a","amount":1}"#,
        &good_metadata(),
    )
    .await;
    // And one of a type nobody handles, unreadable too: it must not stop anything.
    insert_raw(&store, "other-x", 1, "other.Thing", 1, "{}", "{}").await;
    let last = bank.execute(open("b")).await.expect("open b");

    let runner = ProjectionRunner::new(store.clone(), read.clone(), Counts)
        .retry(patient())
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    runner
        .wait_for(last.position, Duration::from_secs(10))
        .await
        .expect("the runner passes the unreadable rows");
    assert_eq!(counted(&store, store.schema(), "bank.Account-b").await, Some(1));
    assert_eq!(counted(&store, store.schema(), "bank.Account-a").await, Some(1));

    let letters = runner.dead_letters().await.expect("dead letters");
    let positions: Vec<u64> = letters.iter().map(|l| l.position).collect();
    assert_eq!(positions, [empty_metadata, negative_version]);
    for letter in &letters {
        assert_eq!(letter.stream_id, "bank.Account-a");
        assert_eq!(letter.event_type, "bank.MoneyDeposited");
        assert!(letter.event_id.is_some());
        assert!(
            letter.error.contains(&format!("position {}", letter.position)),
            "{}",
            letter.error
        );
    }
    assert!(letters[0].error.contains("metadata"), "{}", letters[0].error);
    assert!(letters[1].error.contains("event_version"), "{}", letters[1].error);
    runner.stop().await.into_result().expect("a clean stop");
}

#[tokio::test]
async fn an_unreadable_row_stops_a_runner_that_stops_on_poison_and_names_the_row() {
    let store = crate::fresh_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    Chronicle::new(store.clone())
        .execute(open("a"))
        .await
        .expect("open");
    let bad = insert_raw(
        &store,
        "bank.Account-a",
        2,
        "bank.MoneyDeposited",
        1,
        r#"{"amount":1}"#,
        "{}",
    )
    .await;

    let started = tokio::time::Instant::now();
    let runner = ProjectionRunner::new(store.clone(), read, Counts)
        .retry(patient())
        .spawn();
    let error = tokio::time::timeout(Duration::from_secs(10), runner.join())
        .await
        .expect("the runner stops by itself")
        .expect_err("on the poison event");
    let ProjectionError::Poison(poison) = &error else {
        panic!("expected a poison event, got {error}");
    };
    assert_eq!(
        (poison.position, poison.stream_id.as_str()),
        (bad, "bank.Account-a")
    );
    assert_eq!(
        (poison.stream_version, poison.event_type.as_str()),
        (2, "bank.MoneyDeposited")
    );
    assert_eq!(poison.attempts, 1, "an unreadable row is not retried");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "no backoff was waited: {:?}",
        started.elapsed()
    );
    // The view has what came before it.
    assert_eq!(counted(&store, store.schema(), "bank.Account-a").await, Some(1));

    // The command path names the row too. A load reads no metadata (it applies payloads), so
    // what it cannot read there is the payload, which lacks the account.
    let error = Chronicle::new(store.clone())
        .load::<bank::Account>("a")
        .await
        .expect_err("the stream holds an unreadable row");
    assert!(
        matches!(&error, StoreError::Undecodable { position, stream_id, stream_version: 2, .. } if *position == bad && stream_id == "bank.Account-a"),
        "{error:?}"
    );
    // Its whole history, which carries the metadata, names the metadata column.
    let error = Chronicle::new(store.clone())
        .history::<bank::Account>("a")
        .await
        .expect_err("the stream holds an unreadable row");
    assert!(
        matches!(&error, StoreError::Unreadable { position, stream_id, column: "metadata", .. } if *position == bad && stream_id == "bank.Account-a"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_event_of_a_newer_version_than_the_code_is_poison_at_once() {
    let store = crate::fresh_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    Chronicle::new(store.clone())
        .execute(open("a"))
        .await
        .expect("open");
    let newer = insert_raw(
        &store,
        "bank.Account-a",
        2,
        "bank.MoneyDeposited",
        99,
        r#"{"account_id":"a","amount":1}"#,
        &good_metadata(),
    )
    .await;
    let last = Chronicle::new(store.clone())
        .execute(open("c"))
        .await
        .expect("open c");

    let runner = ProjectionRunner::new(store.clone(), read, Counts)
        .retry(patient())
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    let started = tokio::time::Instant::now();
    runner
        .wait_for(last.position, Duration::from_secs(10))
        .await
        .expect("the runner passes it");
    // Five tries with 400 ms doubling would take six seconds; "failed 1 times" below is the proof,
    // the bound only keeps a retrying runner from passing slowly.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let letters = runner.dead_letters().await.expect("dead letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].position, newer);
    assert!(
        letters[0].error.contains("failed 1 times"),
        "{}",
        letters[0].error
    );
    assert!(letters[0].error.contains("version 99"), "{}", letters[0].error);
    runner.stop().await.into_result().expect("a clean stop");
}

#[tokio::test]
async fn sqlite_rows_that_are_not_json_are_poison_too() {
    let path = std::env::temp_dir().join(format!("chronicle-poison-{}.db", uuid::Uuid::new_v4().simple()));
    let store = SqliteStore::open(&path).await.expect("open");
    store.migrate().await.expect("migrate");
    let read = SqliteReadStore::open(&path).await.expect("read store");
    read.migrate().await.expect("migrate the read store");
    Chronicle::new(store.clone())
        .execute(open("a"))
        .await
        .expect("open");
    let insert = |stream: &'static str,
                  version: i64,
                  event_type: &'static str,
                  payload: &'static str,
                  metadata: String| {
        let store = store.clone();
        async move {
            sqlx::query(
                "INSERT INTO chronicle_events (stream_id, stream_version, event_id, event_type, event_version, \
                 payload, metadata, command_id) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7) RETURNING position",
            )
            .bind(stream)
            .bind(version)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(event_type)
            .bind(payload)
            .bind(metadata)
            .bind(uuid::Uuid::new_v4().to_string())
            .fetch_one(store.pool())
            .await
            .expect("insert by hand")
            .get::<i64, _>("position")
        }
    };
    let not_json = insert(
        "bank.Account-a",
        2,
        "bank.MoneyDeposited",
        "not json at all",
        good_metadata(),
    )
    .await;
    // (SQLite indexes the metadata's correlation id, so it must at least be JSON.)
    insert("other-x", 1, "other.Thing", "{", "{}".to_owned()).await;
    let last = Chronicle::new(store.clone())
        .execute(open("b"))
        .await
        .expect("open b");

    let runner = ProjectionRunner::new(
        store.clone(),
        chronicle::SqlReadStore::from(read.clone()),
        PortableCounts,
    )
    .on_poison(OnPoison::DeadLetter)
    .spawn();
    runner
        .wait_for(last.position, Duration::from_secs(10))
        .await
        .expect("the runner passes the rows it cannot read");
    let letters = runner.dead_letters().await.expect("dead letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].position, u64::try_from(not_json).unwrap());
    assert!(letters[0].error.contains("payload"), "{}", letters[0].error);
    // Committed with the checkpoint the wait saw: both accounts are in the view.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM robust_counts")
        .fetch_one(read.pool())
        .await
        .expect("count the view");
    assert_eq!(rows, 2);
    runner.stop().await.into_result().expect("a clean stop");
}
