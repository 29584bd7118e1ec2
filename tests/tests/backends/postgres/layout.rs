//! The tables `migrate` creates and upgrades: run again and concurrently, by a role without DDL
//! rights, over the layouts of earlier versions; schema names; the append-only triggers.

use chronicle::prelude::*;
use chronicle::StoreError;
use chronicle_tests::conformance::events::command;
use chronicle_tests::conformance::snapshots::{add_up_to, wait_for_snapshot, Tally, STREAM};
use chronicle_tests::support::{self, database_url};
use sqlx::postgres::PgPoolOptions;
use sqlx::Executor;
use uuid::Uuid;

use chronicle::sqlx::Row as _;
use chronicle_tests::conformance::write::deposit;
use chronicle_tests::counts::good_metadata;

use super::{cleanup, fresh_store};

/// The marker `migrate` leaves on the events table.
const LAYOUT: &str = "Chronicle event log, append-only. Table layout 7.";

async fn layout_marker(store: &PostgresStore) -> Option<String> {
    sqlx::query_scalar("SELECT obj_description(to_regclass($1), 'pg_class')")
        .bind(format!("\"{}\".chronicle_events", store.schema()))
        .fetch_one(store.pool())
        .await
        .expect("marker")
}

#[tokio::test]
async fn migrate_twice_is_fine() {
    let store = fresh_store().await;
    store.append("s", 0, command(2)).await.expect("append");
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    assert_eq!(store.read_stream("s", 0).await.expect("read").len(), 2);
    store
        .append("s", 2, command(1))
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
        .append("s", 0, command(1))
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
        let store = support::unmigrated_postgres_store().await;
        let (a, b) = (store.clone(), store.clone());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { a.migrate().await }),
            tokio::spawn(async move { b.migrate().await })
        );
        x.expect("task a").expect("migrate a");
        y.expect("task b").expect("migrate b");
        store.append("s", 0, command(1)).await.expect("append");
        cleanup(store).await;
    }
}

#[tokio::test]
async fn the_database_refuses_update_delete_and_truncate() {
    let store = fresh_store().await;
    store.append("s", 0, command(2)).await.expect("append");
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
async fn migrate_adds_snapshots_and_the_correlation_index_to_a_layout_2_schema() {
    let store = fresh_store().await;
    let schema = store.schema().to_owned();
    let table = format!("\"{schema}\".chronicle_events");
    // The schema as the previous layout left it.
    sqlx::raw_sql(&format!(
        "DROP TABLE \"{schema}\".chronicle_snapshots; \
         DROP INDEX \"{schema}\".chronicle_events_correlation_id_idx; \
         COMMENT ON TABLE {table} IS 'Chronicle event log, append-only. Table layout 2.';"
    ))
    .execute(store.pool())
    .await
    .unwrap();

    store.migrate().await.unwrap();
    assert_eq!(layout_marker(&store).await.as_deref(), Some(LAYOUT));
    let (snapshots, index): (bool, bool) =
        sqlx::query_as("SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL")
            .bind(format!("\"{schema}\".chronicle_snapshots"))
            .bind(format!("\"{schema}\".chronicle_events_correlation_id_idx"))
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(snapshots && index);

    let app = Chronicle::new(store.clone());
    add_up_to(&app, 1, 5).await;
    wait_for_snapshot(&store, |s| s.stream_version == 5).await;
    store.migrate().await.unwrap();
    cleanup(store).await;
}

#[tokio::test]
async fn a_missing_snapshot_table_fails_no_command() {
    let store = fresh_store().await;
    sqlx::query(&format!(
        "ALTER TABLE \"{}\".chronicle_snapshots RENAME TO chronicle_snapshots_gone",
        store.schema()
    ))
    .execute(store.pool())
    .await
    .unwrap();
    let app = Chronicle::new(store.clone());
    add_up_to(&app, 1, 11).await;
    let loaded = app.load::<Tally>("t-1").await.unwrap();
    assert_eq!((loaded.state.total(), loaded.snapshot), (66, None));
    assert!(store.read_snapshot(STREAM).await.is_err());
    cleanup(store).await;
}

#[tokio::test]
async fn migrate_replaces_the_notify_trigger_of_a_layout_3_table() {
    let store = fresh_store().await;
    let table = format!("\"{}\".chronicle_events", store.schema());
    // The table as layout 3 left it: a trigger that notified inside every appending transaction.
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION \"{schema}\".chronicle_events_notify() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_notify('{channel}', ''); RETURN NULL; END $$; \
         CREATE TRIGGER chronicle_events_notify AFTER INSERT ON {table} \
             FOR EACH STATEMENT EXECUTE FUNCTION \"{schema}\".chronicle_events_notify(); \
         COMMENT ON TABLE {table} IS 'Chronicle event log, append-only. Table layout 3.';",
        schema = store.schema(),
        channel = store.notification_channel(),
    ))
    .execute(store.pool())
    .await
    .expect("downgrade");

    store.migrate().await.expect("migrate");
    let triggers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = 'chronicle_events_notify'",
    )
    .bind(&table)
    .fetch_one(store.pool())
    .await
    .expect("triggers");
    assert_eq!(triggers, 0, "the trigger is gone");
    assert_eq!(layout_marker(&store).await.as_deref(), Some(LAYOUT));

    // Appends through the store still wake subscribers.
    let mut listener = store.listen().await.expect("listen");
    store.append("s", 0, command(1)).await.expect("append");
    assert!(
        listener.wait(std::time::Duration::from_secs(5)).await,
        "an append wakes the listener"
    );
    store.migrate().await.expect("migrate again");
    cleanup(store).await;
}

const EVENTS_LAYOUT_4: &str = include_str!("../../../fixtures/postgres_events_layout_4.sql");

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
    assert_eq!(marker.as_deref(), Some(LAYOUT));
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

const EVENTS_LAYOUT_6: &str = include_str!("../../../fixtures/postgres_events_layout_6.sql");

/// Layout 7 adds tenants: a layout 6 table with rows and a snapshot is upgraded in place, its
/// rows of no tenant, its stream key per tenant; old streams go on, and a tenant's stream of the
/// same id starts afresh.
#[tokio::test]
async fn a_layout_6_event_table_with_rows_gets_tenants_in_place() {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&support::database_url())
        .await
        .expect("connect");
    let schema = format!("t_{}", Uuid::new_v4().simple());
    sqlx::raw_sql(&EVENTS_LAYOUT_6.replace("{schema}", &schema))
        .execute(&pool)
        .await
        .expect("the layout 6 tables");
    let old = PostgresStore::from_pool(pool.clone())
        .with_schema(&schema)
        .expect("schema");
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
        .expect("a row written by layout 6");
    }
    sqlx::query(&format!(
        "INSERT INTO \"{schema}\".chronicle_snapshots \
         (stream_id, aggregate_type, snapshot_version, stream_version, state, taken_at) \
         VALUES ('c-1', 'test.Counter', 1, 4, '{{\"n\": 4}}', now())"
    ))
    .execute(&pool)
    .await
    .expect("a snapshot of layout 6");
    let positions_before: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT position FROM \"{schema}\".chronicle_events ORDER BY position"
    ))
    .fetch_all(&pool)
    .await
    .expect("positions");

    old.migrate().await.expect("the upgrade");
    assert_eq!(layout_marker(&old).await.as_deref(), Some(LAYOUT));
    let rows = sqlx::query(&format!(
        "SELECT position, tenant FROM \"{schema}\".chronicle_events ORDER BY position"
    ))
    .fetch_all(&pool)
    .await
    .expect("rows");
    let kept: Vec<(i64, String)> = rows
        .iter()
        .map(|row| (row.get("position"), row.get("tenant")))
        .collect();
    assert_eq!(
        kept,
        positions_before
            .iter()
            .map(|p| (*p, String::new()))
            .collect::<Vec<_>>(),
        "every row kept, in place, of no tenant"
    );
    let definitions: Vec<String> = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid IN (to_regclass($1), to_regclass($2)) AND contype IN ('u', 'p') ORDER BY conname",
    )
    .bind(format!("\"{schema}\".chronicle_events"))
    .bind(format!("\"{schema}\".chronicle_snapshots"))
    .fetch_all(&pool)
    .await
    .expect("keys");
    assert!(
        definitions.contains(&"UNIQUE (tenant, stream_id, stream_version)".to_owned())
            && definitions.contains(&"PRIMARY KEY (tenant, stream_id)".to_owned()),
        "{definitions:?}"
    );
    let index: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("\"{schema}\".chronicle_events_tenant_position_idx"))
        .fetch_one(&pool)
        .await
        .expect("index");
    assert!(index, "the tenant's log index is built");
    assert_eq!(
        old.read_snapshot("c-1")
            .await
            .expect("read")
            .map(|s| s.stream_version),
        Some(4),
        "the snapshot is kept, of no tenant"
    );

    // The old stream goes on where it was; a tenant's stream of the same id is a new one.
    let bank = Chronicle::new(old.clone());
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
        .expect("the old stream goes on");
    assert_eq!(receipt.stream_version, 3);
    let acme = bank.for_tenant(Tenant::new("acme").expect("tenant"));
    assert_eq!(acme.load::<bank::Account>("old").await.expect("load").version, 0);
    assert!(old
        .for_tenant(Tenant::new("acme").expect("tenant"))
        .append("bank.Account-old", 0, command(1))
        .await
        .is_ok());
    old.migrate().await.expect("migrate again");
    cleanup(old).await;
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
