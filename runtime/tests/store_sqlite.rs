//! `SqliteStore` on database files in the temporary directory, and in memory.
#![cfg(feature = "sqlite")]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chronicle::{EventStore, SqliteStore, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};
use uuid::Uuid;

/// A database file path that is removed, with its WAL files, when the test ends.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("chronicle-test-{}.db", Uuid::new_v4().simple())))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn fresh_store(db: &TempDb) -> SqliteStore {
    let store = SqliteStore::open(db.path()).await.expect("open");
    store.migrate().await.expect("migrate");
    store
}

#[tokio::test]
async fn append_and_read_stream_roundtrip() {
    let db = TempDb::new();
    common::roundtrip(&fresh_store(&db).await).await;
}

#[tokio::test]
async fn roundtrip_in_memory() {
    let store = SqliteStore::in_memory().await.expect("in_memory");
    store.migrate().await.expect("migrate");
    common::roundtrip(&store).await;
    // Each in-memory store is a database of its own.
    let other = SqliteStore::in_memory().await.expect("in_memory");
    other.migrate().await.expect("migrate");
    assert!(other.read_all(0, 10).await.expect("read_all").is_empty());
}

#[tokio::test]
async fn payload_text_is_kept_byte_for_byte() {
    let store = SqliteStore::in_memory().await.expect("in_memory");
    store.migrate().await.expect("migrate");
    let mut events = common::command(1);
    let raw = r#"{ "z": 1,  "a": [1.50, 2e3] }"#;
    events[0].payload = serde_json::value::RawValue::from_string(raw.to_owned()).expect("json");
    store.append("s", 0, events).await.expect("append");
    let stored = store.read_stream("s", 0).await.expect("read");
    assert_eq!(stored[0].payload.get(), raw);
}

#[tokio::test]
async fn empty_append_touches_nothing() {
    let db = TempDb::new();
    common::empty_append_touches_nothing(&fresh_store(&db).await).await;
}

#[tokio::test]
async fn stale_expected_version_conflicts() {
    let db = TempDb::new();
    common::stale_expected_version_conflicts(&fresh_store(&db).await).await;
}

#[tokio::test]
async fn expected_version_ahead_conflicts() {
    let db = TempDb::new();
    common::expected_version_ahead_conflicts(&fresh_store(&db).await).await;
}

#[tokio::test]
async fn duplicate_event_id_is_refused() {
    let db = TempDb::new();
    common::duplicate_event_id_is_refused(&fresh_store(&db).await).await;
}

#[tokio::test]
async fn find_command() {
    let db = TempDb::new();
    common::find_command(&fresh_store(&db).await).await;
}

#[tokio::test]
async fn read_all_in_order_with_limit() {
    let db = TempDb::new();
    common::read_all_in_order_with_limit(&fresh_store(&db).await).await;
}

#[tokio::test]
async fn large_command_spans_several_insert_statements() {
    let store = SqliteStore::in_memory().await.expect("in_memory");
    store.migrate().await.expect("migrate");
    let events = common::command(2500);
    let receipt = store.append("big", 0, events).await.expect("append");
    assert_eq!(receipt.stream_version, 2500);
    let stored = store.read_stream("big", 0).await.expect("read");
    assert_eq!(stored.len(), 2500);
    assert_eq!(receipt.position, Some(stored[2499].position));

    // A collision in the last statement undoes the earlier ones.
    let mut events = common::command(2500);
    events[2400].event_id = stored[0].event_id;
    let err = store.append("big2", 0, events).await.expect_err("duplicate");
    assert!(
        matches!(err, StoreError::DuplicateEvent { event_id } if event_id == stored[0].event_id),
        "{err:?}"
    );
    assert!(store.read_stream("big2", 0).await.expect("read").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_on_one_file_one_wins() {
    let db = TempDb::new();
    let a = fresh_store(&db).await;
    // A second pool, as a second process would have.
    let b = SqliteStore::open(db.path()).await.expect("open again");
    common::racing_writers_one_wins(&a, &b).await;
}

#[tokio::test]
async fn migrate_twice_is_fine() {
    let db = TempDb::new();
    let store = fresh_store(&db).await;
    store.append("s", 0, common::command(2)).await.expect("append");
    // Spawned: the futures must be `Send + 'static` for applications to do the same.
    let spawned = store.clone();
    tokio::spawn(async move { spawned.migrate().await })
        .await
        .expect("task")
        .expect("second migrate");
    let spawned = store.clone();
    tokio::spawn(async move { spawned.append("s", 2, common::command(1)).await })
        .await
        .expect("task")
        .expect("spawned append");
    let reopened = SqliteStore::open(db.path()).await.expect("reopen");
    reopened.migrate().await.expect("migrate on reopen");
    assert_eq!(reopened.read_stream("s", 0).await.expect("read").len(), 3);
}

#[tokio::test]
async fn the_database_refuses_update_and_delete() {
    let db = TempDb::new();
    let store = fresh_store(&db).await;
    store.append("s", 0, common::command(2)).await.expect("append");
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
    let store = SqliteStore::in_memory().await.expect("in_memory");
    store.migrate().await.expect("migrate");
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
    let store = SqliteStore::in_memory().await.expect("in_memory");
    store.migrate().await.expect("migrate");
    let metadata = serde_json::to_string(&common::metadata(Uuid::new_v4())).expect("json");
    insert_by_hand(&store, "negative", -1, &metadata).await;
    insert_by_hand(&store, "huge", i64::from(u32::MAX) + 1, &metadata).await;
    for stream in ["negative", "huge"] {
        let err = store.read_stream(stream, 0).await.expect_err(stream);
        assert!(
            matches!(&err, StoreError::Unreadable { column: "event_version", stream_id, .. } if stream_id == stream),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn waiting_writer_gives_up_as_unavailable() {
    let db = TempDb::new();
    fresh_store(&db).await;
    // Another process holding the write lock for longer than the store's busy timeout.
    let mut holder = SqliteConnectOptions::new()
        .filename(db.path())
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
                .filename(db.path())
                .busy_timeout(Duration::from_millis(200)),
        )
        .await
        .expect("pool");
    let store = SqliteStore::from_pool(pool);
    let err = store.append("s", 0, common::command(1)).await.expect_err("busy");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("release");
    holder.close().await.expect("close");
    store
        .append("s", 0, common::command(1))
        .await
        .expect("append after release");
}

#[tokio::test]
async fn missing_directory_is_unavailable() {
    let path = std::env::temp_dir()
        .join(format!("chronicle-missing-{}", Uuid::new_v4().simple()))
        .join("events.db");
    let err = SqliteStore::open(&path).await.expect_err("open");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}
