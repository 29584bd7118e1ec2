//! `SqliteStore`: database files and pools on them, the busy timeout, the store in memory, rows
//! written by other programs, and the query plans behind its lookups.

use std::time::Duration;

use chronicle::{Checkpoint, EventSource, EventStore, ReadStore, SqliteReadStore, SqliteStore, StoreError};
use chronicle_tests::conformance::events::{command, metadata, typed};
use chronicle_tests::conformance::store::race;
use chronicle_tests::conformance::subscription::{Tailer, A, B};
use chronicle_tests::support::{sqlite_store_in, TempFile};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};
use uuid::Uuid;

async fn in_memory() -> SqliteStore {
    let store = SqliteStore::in_memory().await.expect("in_memory");
    store.migrate().await.expect("migrate");
    store
}

#[tokio::test]
async fn each_store_in_memory_is_a_database_of_its_own() {
    let store = in_memory().await;
    store.append("s", 0, command(2)).await.expect("append");
    let other = in_memory().await;
    assert!(other.read_all(0, 10).await.expect("read_all").is_empty());
    assert_eq!(store.read_all(0, 10).await.expect("read_all").len(), 2);
}

#[tokio::test]
async fn payload_text_is_kept_byte_for_byte() {
    let store = in_memory().await;
    let mut events = command(1);
    let raw = r#"{ "z": 1,  "a": [1.50, 2e3] }"#;
    events[0].payload = serde_json::value::RawValue::from_string(raw.to_owned()).expect("json");
    store.append("s", 0, events).await.expect("append");
    let stored = store.read_stream("s", 0).await.expect("read");
    assert_eq!(stored[0].payload.get(), raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_on_one_file_from_two_pools_one_wins() {
    let file = TempFile::new("chronicle-sqlite");
    let a = sqlite_store_in(&file).await;
    // A second pool, as a second process would have.
    let b = SqliteStore::open(file.path()).await.expect("open again");
    race(&a, &b).await;
}

#[tokio::test]
async fn migrate_twice_is_fine() {
    let file = TempFile::new("chronicle-sqlite");
    let store = sqlite_store_in(&file).await;
    store.append("s", 0, command(2)).await.expect("append");
    // Spawned: the futures must be `Send + 'static` for applications to do the same.
    let spawned = store.clone();
    tokio::spawn(async move { spawned.migrate().await })
        .await
        .expect("task")
        .expect("second migrate");
    let spawned = store.clone();
    tokio::spawn(async move { spawned.append("s", 2, command(1)).await })
        .await
        .expect("task")
        .expect("spawned append");
    let reopened = SqliteStore::open(file.path()).await.expect("reopen");
    reopened.migrate().await.expect("migrate on reopen");
    assert_eq!(reopened.read_stream("s", 0).await.expect("read").len(), 3);
}

#[tokio::test]
async fn the_database_refuses_update_and_delete() {
    let file = TempFile::new("chronicle-sqlite");
    let store = sqlite_store_in(&file).await;
    store.append("s", 0, command(2)).await.expect("append");
    for statement in [
        "UPDATE chronicle_events SET event_type = 'tampered'",
        "UPDATE chronicle_events SET payload = '{}' WHERE stream_version = 1",
        "DELETE FROM chronicle_events WHERE stream_version = 2",
        "DELETE FROM chronicle_events",
    ] {
        let err = sqlx::raw_sql(statement)
            .execute(store.pool())
            .await
            .expect_err(statement);
        assert!(
            err.to_string().contains("chronicle_events is append-only"),
            "{statement}: {err}"
        );
    }
    let events = store.read_stream("s", 0).await.expect("read");
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.event_type == "test.Happened"));
}

async fn insert_by_hand(store: &SqliteStore, stream_id: &str, event_version: i64, metadata: &str) {
    sqlx::query(
        "INSERT INTO chronicle_events \
         (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
         VALUES (?1, 1, ?2, 'test.Happened', ?3, '{}', ?4, ?5)",
    )
    .bind(stream_id)
    .bind(Uuid::new_v4().to_string())
    .bind(event_version)
    .bind(metadata)
    .bind(Uuid::new_v4().to_string())
    .execute(store.pool())
    .await
    .expect("insert by hand");
}

#[tokio::test]
async fn undecodable_metadata_is_an_error_not_a_panic() {
    let store = in_memory().await;
    insert_by_hand(&store, "broken", 3, r#"{"oops": true}"#).await;

    let err = store.read_stream("broken", 0).await.expect_err("undecodable");
    match err {
        StoreError::Unreadable {
            position,
            stream_id,
            event_type,
            column,
            detail,
        } => {
            assert!(position > 0);
            assert_eq!(stream_id, "broken");
            assert_eq!(event_type, "test.Happened");
            assert_eq!(column, "metadata");
            assert!(detail.contains("command_id"), "{detail}");
        }
        other => panic!("expected Unreadable, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_rows_are_errors_not_panics() {
    let store = in_memory().await;
    let metadata = serde_json::to_string(&metadata(Uuid::new_v4())).expect("json");
    insert_by_hand(&store, "negative", -1, &metadata).await;
    insert_by_hand(&store, "huge", i64::from(u32::MAX) + 1, &metadata).await;
    for stream in ["negative", "huge"] {
        let err = store.read_stream(stream, 0).await.expect_err(stream);
        assert!(
            matches!(&err, StoreError::Unreadable { column: "event_version", stream_id, .. } if stream_id == stream),
            "{err:?}"
        );
        // A load's light read checks the same columns the same way.
        let err = store.read_stream_payloads(stream, 0).await.expect_err(stream);
        assert!(
            matches!(&err, StoreError::Unreadable { column: "event_version", stream_id, .. } if stream_id == stream),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn a_waiting_writer_gives_up_as_unavailable() {
    let file = TempFile::new("chronicle-sqlite");
    sqlite_store_in(&file).await;
    // Another process holding the write lock for longer than the store's busy timeout.
    let mut holder = SqliteConnectOptions::new()
        .filename(file.path())
        .connect()
        .await
        .expect("holder");
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("take write lock");

    let pool = SqlitePoolOptions::new()
        .connect_with(
            SqliteConnectOptions::new()
                .filename(file.path())
                .busy_timeout(Duration::from_millis(200)),
        )
        .await
        .expect("pool");
    let store = SqliteStore::from_pool(pool);
    let err = store.append("s", 0, command(1)).await.expect_err("busy");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("release");
    holder.close().await.expect("close");
    store
        .append("s", 0, command(1))
        .await
        .expect("append after release");
}

#[tokio::test]
async fn a_missing_directory_is_unavailable() {
    let path = std::env::temp_dir()
        .join(format!("chronicle-missing-{}", Uuid::new_v4().simple()))
        .join("events.db");
    let err = SqliteStore::open(&path).await.expect_err("open");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// Positions commit in order: the transaction id is 0 and a caught-up batch's horizon is the
/// highest position, whatever types were asked for. (Also `MemoryStore`'s, see `memory.rs`.)
pub async fn horizons_are_positions<S: EventSource>(store: &S) {
    store.append("s", 0, typed(&[A, B])).await.expect("append");
    let all = store.read_all(0, 10).await.expect("read_all");
    assert!(all.iter().all(|e| e.transaction_id == 0));
    let batch = store
        .read_batch(Checkpoint::START, &[A], 10)
        .await
        .expect("read_batch");
    assert_eq!(batch.events.len(), 1);
    assert_eq!(
        batch.horizon,
        Checkpoint {
            transaction_id: 0,
            position: all[1].position
        }
    );
    let head = store.head().await.expect("head");
    assert_eq!(head.checkpoint, batch.horizon);

    // A checkpoint with a transaction id is after every event of such a store.
    let foreign = Checkpoint {
        transaction_id: 1,
        position: 0,
    };
    let batch = store.read_batch(foreign, &[], 10).await.expect("read_batch");
    assert!(batch.events.is_empty());
    assert_eq!(batch.horizon, foreign);
    assert_eq!(store.progress(foreign, &[]).await.expect("progress").readable, 0);
}

#[tokio::test]
async fn sqlite_horizons_are_positions() {
    horizons_are_positions(&in_memory().await).await;
}

/// Another process's appends do not raise this process's signal: a subscriber finds them when
/// it reads after its wait has timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_through_another_pool_are_found_by_polling() {
    let file = TempFile::new("chronicle-sqlite");
    let store = sqlite_store_in(&file).await;
    let other = SqliteStore::open(file.path()).await.expect("open again");
    let mut listener = store.listen().await.expect("listen");
    let mut tailer = Tailer::new(store.clone(), &[], 10);
    assert_eq!(tailer.step().await, 0);

    other.append("s", 0, command(2)).await.expect("append elsewhere");
    // A signal is raised before the append returns; none is pending, so none was raised. (A
    // wait of zero looks at the signal once, without letting time pass.)
    assert!(!listener.wait(Duration::ZERO).await, "woken by another pool");
    assert_eq!(tailer.step().await, 2, "found by polling");

    store.append("s", 2, command(1)).await.expect("append here");
    assert!(
        listener.wait(Duration::from_secs(5)).await,
        "not woken by an append here"
    );
    assert_eq!(tailer.step().await, 1);
}

#[tokio::test]
async fn reads_by_correlation_go_through_its_index() {
    let file = TempFile::new("chronicle-sqlite");
    let store = sqlite_store_in(&file).await;
    let rows = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT position FROM chronicle_events \
         WHERE json_extract(metadata, '$.correlation_id') = ?1 ORDER BY position",
    )
    .bind(Uuid::new_v4().to_string())
    .fetch_all(store.pool())
    .await
    .unwrap();
    let plan: Vec<String> = rows
        .iter()
        .map(|row| sqlx::Row::get::<String, _>(row, 3))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("chronicle_events_correlation_id_idx"), "{plan}");
}

#[tokio::test]
async fn a_layout_1_sqlite_dead_letter_table_is_upgraded_in_place() {
    let path = std::env::temp_dir().join(format!("chronicle-layout-{}.db", Uuid::new_v4().simple()));
    let event_id = Uuid::new_v4();
    {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true),
            )
            .await
            .expect("open");
        sqlx::raw_sql(&format!(
            "CREATE TABLE chronicle_checkpoints (projection TEXT PRIMARY KEY, version INTEGER NOT NULL,
                 transaction_id INTEGER NOT NULL, position INTEGER NOT NULL,
                 updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) STRICT;
             CREATE TABLE chronicle_dead_letters (projection TEXT NOT NULL, position INTEGER NOT NULL,
                 transaction_id INTEGER NOT NULL, event_id TEXT NOT NULL, stream_id TEXT NOT NULL,
                 stream_version INTEGER NOT NULL, event_type TEXT NOT NULL, error TEXT NOT NULL,
                 recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                 PRIMARY KEY (projection, event_id)) STRICT;
             INSERT INTO chronicle_checkpoints (projection, version, transaction_id, position) VALUES ('p', 3, 0, 12);
             INSERT INTO chronicle_dead_letters (projection, position, transaction_id, event_id, stream_id,
                 stream_version, event_type, error) VALUES ('p', 9, 0, '{event_id}', 's-1', 2, 't', 'boom');"
        ))
        .execute(&pool)
        .await
        .expect("the layout 1 tables");
        pool.close().await;
    }

    let read = SqliteReadStore::open(&path).await.expect("open");
    read.migrate().await.expect("the upgrade");
    read.migrate().await.expect("again");
    let letters = ReadStore::dead_letters(&read, "p", 3)
        .await
        .expect("dead letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(
        (letters[0].version, letters[0].position, letters[0].event_id),
        (3, 9, Some(event_id))
    );
}

const EVENTS_LAYOUT_1: &str = include_str!("../../fixtures/sqlite_events_layout_1.sql");

/// Tenants came with layout 2: an event table of layout 1 with rows is copied into the new
/// layout, every row kept at its position and of no tenant, the position counter kept (no
/// position is reused), the indexes and triggers made again; a tenant's stream of an old id
/// starts afresh.
#[tokio::test]
async fn a_layout_1_sqlite_event_table_with_rows_gets_tenants_in_place() {
    let file = TempFile::new("chronicle-events-layout-1");
    {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(file.path())
                    .create_if_missing(true),
            )
            .await
            .expect("open");
        sqlx::raw_sql(EVENTS_LAYOUT_1)
            .execute(&pool)
            .await
            .expect("the layout 1 tables");
        for (position, version) in [(1, 1), (2, 2), (5, 3)] {
            sqlx::query(
                "INSERT INTO chronicle_events (position, stream_id, stream_version, event_id, event_type, \
                 event_version, payload, metadata, command_id) VALUES (?1, 's-1', ?2, ?3, 't', 1, '{}', ?4, ?5)",
            )
            .bind(position)
            .bind(version)
            .bind(Uuid::new_v4().to_string())
            .bind(chronicle_tests::counts::good_metadata())
            .bind(Uuid::new_v4().to_string())
            .execute(&pool)
            .await
            .expect("a row of layout 1");
        }
        // A position taken by an insert that is gone (the counter is ahead of the rows).
        sqlx::query("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'chronicle_events'")
            .execute(&pool)
            .await
            .expect("counter");
        pool.close().await;
    }

    let store = SqliteStore::open(file.path()).await.expect("open");
    store.migrate().await.expect("the upgrade");
    store.migrate().await.expect("again");
    let kept = store.read_all(0, 10).await.expect("read");
    let rows: Vec<(u64, u64, &str)> = kept
        .iter()
        .map(|e| (e.position, e.stream_version, e.tenant.as_str()))
        .collect();
    assert_eq!(rows, [(1, 1, ""), (2, 2, ""), (5, 3, "")]);
    let next = store
        .append("s-1", 3, command(1))
        .await
        .expect("the old stream goes on");
    assert_eq!((next.stream_version, next.position), (4, Some(10)));
    let acme = store.for_tenant(chronicle::Tenant::new("acme").expect("tenant"));
    let theirs = acme.append("s-1", 0, command(1)).await.expect("acme's own s-1");
    assert_eq!(theirs.stream_version, 1);
    for statement in [
        "UPDATE chronicle_events SET payload = '{}'",
        "DELETE FROM chronicle_events",
    ] {
        let error = sqlx::query(statement)
            .execute(store.pool())
            .await
            .expect_err("append-only");
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'chronicle_events' \
         AND name LIKE 'chronicle_%' ORDER BY name",
    )
    .fetch_all(store.pool())
    .await
    .expect("indexes");
    assert_eq!(
        indexes,
        [
            "chronicle_events_command_id_idx",
            "chronicle_events_correlation_id_idx",
            "chronicle_events_tenant_position_idx"
        ]
    );
}
