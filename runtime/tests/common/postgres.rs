//! The test Postgres: a database created on first use, and a fresh schema per test.
//!
//! The server is `CHRONICLE_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/chronicle_test`. A server that cannot be reached fails
//! the tests: it is never a reason to skip them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chronicle::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use uuid::Uuid;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/chronicle_test";

pub fn database_url() -> String {
    std::env::var("CHRONICLE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

pub fn unreachable(url: &str, e: impl std::fmt::Display) -> ! {
    panic!(
        "cannot use the test Postgres at {url}: {e}\n\
         These tests need a running Postgres (13 or later). Start one, e.g.\n  \
         pg_ctlcluster 15 main start                      (Debian/Ubuntu package), or\n  \
         docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16\n\
         or point CHRONICLE_TEST_DATABASE_URL at a server where the user may create databases."
    )
}

/// Creates the test database if it does not exist yet; tests racing to create it all succeed.
pub async fn ensure_database(url: &str) {
    static READY: AtomicBool = AtomicBool::new(false);
    if READY.load(Ordering::Acquire) {
        return;
    }
    let options: PgConnectOptions = url
        .parse()
        .unwrap_or_else(|e| panic!("invalid CHRONICLE_TEST_DATABASE_URL `{url}`: {e}"));
    let database = options
        .get_database()
        .unwrap_or_else(|| panic!("CHRONICLE_TEST_DATABASE_URL `{url}` names no database"))
        .to_owned();
    let mut admin = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .unwrap_or_else(|e| unreachable(url, e));
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&database)
        .fetch_one(&mut admin)
        .await
        .unwrap_or_else(|e| unreachable(url, e));
    if !exists {
        let create = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
        if let Err(e) = sqlx::raw_sql(&create).execute(&mut admin).await {
            // 42P04: created meanwhile by a parallel test; 23505: the same race caught by the
            // catalog's unique index instead.
            let raced = e
                .as_database_error()
                .and_then(|db| db.code())
                .is_some_and(|code| code == "42P04" || code == "23505");
            if !raced {
                unreachable(url, e);
            }
        }
    }
    let _ = admin.close().await;
    READY.store(true, Ordering::Release);
}

/// A store in a new, empty schema `t_<uuid>`, not yet migrated.
pub async fn unmigrated_store() -> PostgresStore {
    let url = database_url();
    ensure_database(&url).await;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await
        .unwrap_or_else(|e| unreachable(&url, e));
    let schema = format!("t_{}", Uuid::new_v4().simple());
    PostgresStore::from_pool(pool)
        .with_schema(&schema)
        .expect("generated schema name is valid")
}

/// A migrated store in a new, empty schema.
pub async fn fresh_store() -> PostgresStore {
    let store = unmigrated_store().await;
    store.migrate().await.expect("migrate");
    store
}

/// Drops the test's schema; a failed test leaves its schema behind for inspection.
pub async fn cleanup(store: PostgresStore) {
    sqlx::raw_sql(&format!("DROP SCHEMA \"{}\" CASCADE", store.schema()))
        .execute(store.pool())
        .await
        .expect("drop test schema");
    store.pool().close().await;
}
