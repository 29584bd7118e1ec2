//! Postgres-only behaviour: rows written by other tools, and a database that is not there.

use std::time::Duration;

use bank::{Account, Deposit, OpenAccount};
use chronicle::prelude::*;
use chronicle::StoreError;
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
