//! `PostgresStore` against a real Postgres.
//!
//! The server is `CHRONICLE_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/chronicle_test`; the database is created if missing and
//! every test works in a schema of its own, so tests run in parallel. A server that cannot be
//! reached fails the tests: it is never a reason to skip them.
#![cfg(feature = "postgres")]

mod common;

use std::time::Duration;

use chronicle::{EventStore, PostgresStore, StoreError};
use common::postgres::{cleanup, database_url, fresh_store, unmigrated_store};
use sqlx::postgres::PgPoolOptions;
use sqlx::Executor;
use uuid::Uuid;

#[tokio::test]
async fn append_and_read_stream_roundtrip() {
    let store = fresh_store().await;
    common::roundtrip(&store).await;
    cleanup(store).await;
}

#[tokio::test]
async fn empty_append_touches_nothing() {
    let store = fresh_store().await;
    common::empty_append_touches_nothing(&store).await;
    cleanup(store).await;
}

#[tokio::test]
async fn stale_expected_version_conflicts() {
    let store = fresh_store().await;
    common::stale_expected_version_conflicts(&store).await;
    cleanup(store).await;
}

#[tokio::test]
async fn expected_version_ahead_conflicts() {
    let store = fresh_store().await;
    common::expected_version_ahead_conflicts(&store).await;
    cleanup(store).await;
}

#[tokio::test]
async fn duplicate_event_id_is_refused() {
    let store = fresh_store().await;
    common::duplicate_event_id_is_refused(&store).await;
    cleanup(store).await;
}

#[tokio::test]
async fn find_command() {
    let store = fresh_store().await;
    common::find_command(&store).await;
    cleanup(store).await;
}

#[tokio::test]
async fn read_all_in_order_with_limit() {
    let store = fresh_store().await;
    common::read_all_in_order_with_limit(&store).await;
    cleanup(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_one_wins() {
    let store = fresh_store().await;
    let other = store.clone();
    common::racing_writers_one_wins(&store, &other).await;
    cleanup(store).await;
}

#[tokio::test]
async fn migrate_twice_is_fine() {
    let store = fresh_store().await;
    store.append("s", 0, common::command(2)).await.expect("append");
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    assert_eq!(store.read_stream("s", 0).await.expect("read").len(), 2);
    store
        .append("s", 2, common::command(1))
        .await
        .expect("append after migrate");
    cleanup(store).await;
}

#[tokio::test]
async fn migrate_needs_no_ddl_rights_once_done() {
    let store = fresh_store().await;
    let role = format!("r_{}", Uuid::new_v4().simple());
    let schema = store.schema().to_owned();
    sqlx::raw_sql(&format!(
        "CREATE ROLE {role} NOLOGIN; \
         GRANT USAGE ON SCHEMA {schema} TO {role}; \
         GRANT SELECT, INSERT ON {schema}.chronicle_events TO {role};"
    ))
    .execute(store.pool())
    .await
    .expect("create role");

    let set_role = format!("SET ROLE {role}");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            let set_role = set_role.clone();
            Box::pin(async move { conn.execute(set_role.as_str()).await.map(drop) })
        })
        .connect(&database_url())
        .await
        .expect("pool");
    let limited = PostgresStore::from_pool(pool)
        .with_schema(&schema)
        .expect("schema");
    limited.migrate().await.expect("migrate as a DML-only role");
    limited
        .append("s", 0, common::command(1))
        .await
        .expect("append as a DML-only role");
    limited.pool().close().await;

    sqlx::raw_sql(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .execute(store.pool())
        .await
        .expect("drop role");
    cleanup(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_from_two_tasks() {
    for _ in 0..3 {
        let store = unmigrated_store().await;
        let (a, b) = (store.clone(), store.clone());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { a.migrate().await }),
            tokio::spawn(async move { b.migrate().await })
        );
        x.expect("task a").expect("migrate a");
        y.expect("task b").expect("migrate b");
        store.append("s", 0, common::command(1)).await.expect("append");
        cleanup(store).await;
    }
}

#[tokio::test]
async fn the_database_refuses_update_delete_and_truncate() {
    let store = fresh_store().await;
    store.append("s", 0, common::command(2)).await.expect("append");
    let table = format!("\"{}\".chronicle_events", store.schema());
    for statement in [
        format!("UPDATE {table} SET event_type = 'tampered'"),
        format!("UPDATE {table} SET payload = '{{}}' WHERE stream_version = 1"),
        format!("DELETE FROM {table} WHERE stream_version = 2"),
        format!("DELETE FROM {table}"),
        format!("TRUNCATE {table}"),
    ] {
        let err = sqlx::raw_sql(&statement)
            .execute(store.pool())
            .await
            .expect_err(&statement);
        assert!(
            err.to_string().contains("chronicle_events is append-only"),
            "{statement}: {err}"
        );
    }
    let events = store.read_stream("s", 0).await.expect("read");
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.event_type == "test.Happened"));
    cleanup(store).await;
}

#[tokio::test]
async fn undecodable_metadata_is_an_error_not_a_panic() {
    let store = fresh_store().await;
    sqlx::query(&format!(
        "INSERT INTO \"{}\".chronicle_events \
         (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
         VALUES ('broken', 1, $1, 'test.Happened', 3, '{{}}', '{{\"oops\": true}}', $2)",
        store.schema()
    ))
    .bind(Uuid::new_v4())
    .bind(Uuid::new_v4())
    .execute(store.pool())
    .await
    .expect("insert by hand");

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
    assert!(matches!(
        store.read_all(0, 10).await,
        Err(StoreError::Unreadable { .. })
    ));
    cleanup(store).await;
}

#[tokio::test]
async fn out_of_range_numbers_are_errors_not_panics() {
    let store = fresh_store().await;
    sqlx::query(&format!(
        "INSERT INTO \"{}\".chronicle_events \
         (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
         VALUES ('negative', 1, $1, 'test.Happened', -1, '{{}}', $2::text::jsonb, $3)",
        store.schema()
    ))
    .bind(Uuid::new_v4())
    .bind(serde_json::to_string(&common::metadata(Uuid::new_v4())).expect("metadata json"))
    .bind(Uuid::new_v4())
    .execute(store.pool())
    .await
    .expect("insert by hand");
    let err = store
        .read_stream("negative", 0)
        .await
        .expect_err("negative version");
    assert!(
        matches!(&err, StoreError::Unreadable { column: "event_version", stream_id, .. } if stream_id == "negative"),
        "{err:?}"
    );
    cleanup(store).await;
}

#[tokio::test]
async fn invalid_schema_names_are_refused() {
    let pool = PgPoolOptions::new()
        .connect_lazy(&database_url())
        .expect("lazy pool");
    for bad in ["", "Public", "1abc", "a-b", "x\"; DROP TABLE y; --"] {
        let err = PostgresStore::from_pool(pool.clone())
            .with_schema(bad)
            .expect_err(bad);
        assert!(matches!(err, StoreError::InvalidName { .. }), "{err:?}");
        assert!(err.to_string().contains("invalid Postgres schema name"), "{err}");
    }
    let store = PostgresStore::from_pool(pool);
    assert_eq!(store.schema(), "public");
}

#[tokio::test]
async fn unreachable_database_is_unavailable() {
    // Nothing listens on port 1 of the loopback address. (`PostgresStore::connect` would keep
    // retrying a refused connection for the pool's default 30 s: hence a pool of our own.)
    let url = "postgres://postgres@127.0.0.1:1/chronicle_test";
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy(url)
        .expect("lazy pool");
    let store = PostgresStore::from_pool(pool);
    let err = store
        .append("s", 0, common::command(1))
        .await
        .expect_err("append");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store.read_stream("s", 0).await.expect_err("read_stream");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store.migrate().await.expect_err("migrate");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store
        .find_command(Uuid::new_v4())
        .await
        .expect_err("find_command");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("unavailable"), "{err}");
}
