//! Postgres-only behaviour: rows written by other tools, a database that is not there, and
//! connections the server drops.

use std::time::Duration;

use bank::{Account, Deposit, OpenAccount};
use chronicle::prelude::*;
use chronicle::{EventSource, StoreError};
use chronicle_tests::support;

#[tokio::test]
async fn hand_written_bad_rows_give_typed_errors_naming_the_row() {
    let store = support::postgres_store().await;
    let bank = Chronicle::new(store.clone());
    bank.execute(OpenAccount {
        account_id: "p-1".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    })
    .await
    .unwrap();
    let insert = format!(
        "insert into {}.chronicle_events (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id)
         values ($1, $2, gen_random_uuid(), $3, 1, $4::jsonb, $5::jsonb, gen_random_uuid())",
        store.schema()
    );
    let metadata = serde_json::json!({
        "command_id": uuid::Uuid::new_v4(), "correlation_id": uuid::Uuid::new_v4(), "causation_id": uuid::Uuid::new_v4()
    });
    for (stream, version, event_type, payload) in [
        (
            "bank.Account-p-1",
            2,
            "bank.MoneyDeposited",
            r#"{"amount": [1, 2]}"#,
        ),
        ("bank.Account-p-2", 1, "bank.ChequeBounced", r#"{"amount": 1}"#),
    ] {
        sqlx::query(&insert)
            .bind(stream)
            .bind(version as i64)
            .bind(event_type)
            .bind(payload)
            .bind(&metadata)
            .execute(store.pool())
            .await
            .unwrap();
    }

    let error = bank
        .execute(Deposit {
            account_id: "p-1".into(),
            amount: 1,
        })
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            &error,
            CommandError::Store(StoreError::Undecodable {
                stream_version: 2,
                ..
            })
        ),
        "{error:?}"
    );
    assert!(
        message.contains("bank.Account-p-1") && message.contains("bank.MoneyDeposited"),
        "{message}"
    );

    let error = bank.load::<Account>("p-2").await.unwrap_err();
    assert!(
        matches!(&error, StoreError::UnknownEventType { event_type, stream_version: 1, .. } if event_type == "bank.ChequeBounced"),
        "{error:?}"
    );
    // Nothing was lost: both bad rows and the good one are still there.
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_database_that_is_not_there_is_reported_as_unavailable() {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nowhere")
        .unwrap();
    let bank = Chronicle::new(PostgresStore::from_pool(pool));
    let error = bank
        .execute(Deposit {
            account_id: "p-3".into(),
            amount: 1,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(error, CommandError::Store(StoreError::Unavailable(_))),
        "{error:?}"
    );
    assert!(error.to_string().contains("unavailable"), "{error}");
}

/// The store keeps connections of its own for its statements. One the server drops fails the
/// statement that finds it dropped, with `Unavailable`, and is not used again.
#[tokio::test]
async fn a_connection_the_server_dropped_fails_one_command_and_is_replaced() {
    let store = support::postgres_store().await;
    let application = format!("chronicle-dropped-{}", uuid::Uuid::new_v4().simple());
    let options = (*store.pool().connect_options())
        .clone()
        .application_name(&application);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool)
        .with_schema(store.schema())
        .unwrap();
    let bank = Chronicle::new(store.clone());
    bank.execute(OpenAccount {
        account_id: "k-1".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    })
    .await
    .unwrap();

    // The server ends every session of this store (and of nobody else).
    let admin = support::postgres_store().await;
    let terminate = || async {
        let ended: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1) AS t",
        )
        .bind(&application)
        .fetch_one(admin.pool())
        .await
        .unwrap();
        assert!(ended >= 1, "the store held a connection");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // A read finds its connection gone; the next read gets a new one.
    terminate().await;
    let lost = bank.load::<Account>("k-1").await;
    assert!(matches!(lost, Err(StoreError::Unavailable(_))), "{lost:?}");
    assert_eq!(bank.load::<Account>("k-1").await.unwrap().version, 1);

    // So does a command.
    terminate().await;
    let deposit = || Deposit {
        account_id: "k-1".into(),
        amount: 5,
    };
    let first = bank.execute(deposit()).await;
    assert!(
        matches!(first, Err(CommandError::Store(StoreError::Unavailable(_)))),
        "{first:?}"
    );
    let second = bank
        .execute(deposit())
        .await
        .expect("a fresh connection serves the next command");
    assert_eq!(second.stream_version, 2);
    assert_eq!(bank.load::<Account>("k-1").await.unwrap().state.balance(), 5);
}

/// Subscribers are woken by a task of the store, started by the first append. When the runtime
/// that ran it is gone, the next append, on another runtime, starts another.
#[test]
fn wake_ups_outlive_the_runtime_that_started_them() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let store = first.block_on(support::postgres_store());
    let bank = Chronicle::new(store.clone());
    first
        .block_on(bank.execute(OpenAccount {
            account_id: "w-1".into(),
            owner: "Ada".into(),
            overdraft_limit: 0,
        }))
        .unwrap();
    drop(first);

    runtime().block_on(async {
        let deposit = || Deposit {
            account_id: "w-1".into(),
            amount: 1,
        };
        // The first runtime's connections went with it: commands fail until new ones are open.
        let mut attempts = 0;
        while bank.execute(deposit()).await.is_err() {
            attempts += 1;
            assert!(attempts < 20, "the store never recovered its connections");
        }
        let mut listener = store.listen().await.unwrap();
        bank.execute(deposit()).await.unwrap();
        assert!(
            listener.wait(Duration::from_secs(3)).await,
            "an append on the new runtime woke the listener"
        );
    });
}
