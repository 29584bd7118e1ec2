//! `migrate()` upgrades tables created by the previous layout in place, rows and all: the event
//! table of layout 4 (before inline read models were recorded) and the dead-letter table of
//! layout 1 (before dead letters belonged to a projection version).

use chronicle::prelude::*;
use chronicle::sqlx;
use sqlx::Row as _;
use uuid::Uuid;

use super::common::{deposit, good_metadata};
use chronicle_tests::support;

const EVENTS_LAYOUT_4: &str = include_str!("../../fixtures/postgres_events_layout_4.sql");

#[tokio::test]
async fn a_layout_4_event_table_with_rows_is_upgraded_in_place() {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&support::database_url())
        .await
        .expect("connect");
    let schema = format!("t_{}", Uuid::new_v4().simple());
    sqlx::raw_sql(&EVENTS_LAYOUT_4.replace("{schema}", &schema))
        .execute(&pool)
        .await
        .expect("the layout 4 table");
    for (version, event_type, payload) in [
        (
            1,
            "bank.AccountOpened",
            r#"{"account_id":"old","owner":"Ada","overdraft_limit":0}"#,
        ),
        (2, "bank.MoneyDeposited", r#"{"account_id":"old","amount":40}"#),
    ] {
        sqlx::query(&format!(
            "INSERT INTO \"{schema}\".chronicle_events \
             (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
             VALUES ('bank.Account-old', $1, $2, $3, 1, $4::jsonb, $5::jsonb, $6)"
        ))
        .bind(version)
        .bind(Uuid::new_v4())
        .bind(event_type)
        .bind(payload)
        .bind(good_metadata())
        .bind(Uuid::new_v4())
        .execute(&pool)
        .await
        .expect("a row written by the old layout");
    }

    let store = PostgresStore::from_pool(pool.clone())
        .with_schema(&schema)
        .expect("schema");
    store.migrate().await.expect("the upgrade");
    let marker: Option<String> = sqlx::query_scalar("SELECT obj_description(to_regclass($1), 'pg_class')")
        .bind(format!("\"{schema}\".chronicle_events"))
        .fetch_one(&pool)
        .await
        .expect("marker");
    assert_eq!(
        marker.as_deref(),
        Some("Chronicle event log, append-only. Table layout 5.")
    );
    let prepared = sqlx::query(&format!(
        "SELECT count(*) AS n FROM \"{schema}\".chronicle_inline_projections"
    ))
    .fetch_one(&pool)
    .await
    .expect("the table layout 5 adds");
    assert_eq!(prepared.get::<i64, _>("n"), 0);

    // The old rows read as before, and the stream goes on from them.
    let bank = Chronicle::new(store.clone());
    assert_eq!(
        bank.load::<bank::Account>("old")
            .await
            .expect("load")
            .state
            .balance(),
        40
    );
    let receipt = bank
        .execute(deposit("old", 2))
        .await
        .expect("a command on the old stream");
    assert_eq!(receipt.stream_version, 3);
    store.migrate().await.expect("migrate again");
}

#[tokio::test]
async fn a_layout_1_postgres_dead_letter_table_is_upgraded_in_place() {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&support::database_url())
        .await
        .expect("connect");
    let schema = format!("r_{}", Uuid::new_v4().simple());
    let event_id = Uuid::new_v4();
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA \"{schema}\";
         CREATE TABLE \"{schema}\".chronicle_checkpoints (projection text PRIMARY KEY, version int NOT NULL,
             transaction_id bigint NOT NULL, position bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE \"{schema}\".chronicle_dead_letters (projection text NOT NULL, position bigint NOT NULL,
             transaction_id bigint NOT NULL, event_id uuid NOT NULL, stream_id text NOT NULL,
             stream_version bigint NOT NULL, event_type text NOT NULL, error text NOT NULL,
             recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (projection, event_id));
         INSERT INTO \"{schema}\".chronicle_checkpoints VALUES ('p', 3, 7, 12, now());
         INSERT INTO \"{schema}\".chronicle_dead_letters VALUES ('p', 9, 5, '{event_id}', 's-1', 2, 't', 'boom', now());"
    ))
    .execute(&pool)
    .await
    .expect("the layout 1 tables");

    let read = PostgresReadStore::from_pool(pool)
        .with_schema(&schema)
        .expect("schema");
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
    assert_eq!(letters[0].error, "boom");
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
