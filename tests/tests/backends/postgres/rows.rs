//! Rows written by other programs, straight into the table: an error naming the row, never a
//! panic; and the index behind the correlation lookup.

use bank::{Account, Deposit, OpenAccount};
use chronicle::prelude::*;
use chronicle::StoreError;
use chronicle_tests::conformance::events::metadata;
use uuid::Uuid;

use super::{cleanup, fresh_store};

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
    .bind(serde_json::to_string(&metadata(Uuid::new_v4())).expect("metadata json"))
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
    // A load's light read checks the same columns the same way.
    let err = store
        .read_stream_payloads("negative", 0)
        .await
        .expect_err("negative version");
    assert!(
        matches!(&err, StoreError::Unreadable { column: "event_version", stream_id, .. } if stream_id == "negative"),
        "{err:?}"
    );
    cleanup(store).await;
}

#[tokio::test]
async fn hand_written_bad_rows_give_typed_errors_naming_the_row() {
    let store = fresh_store().await;
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
        "command_id": Uuid::new_v4(), "correlation_id": Uuid::new_v4(), "causation_id": Uuid::new_v4()
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
    cleanup(store).await;
}

#[tokio::test]
async fn reads_by_correlation_go_through_its_index() {
    let store = fresh_store().await;
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN SELECT position FROM \"{}\".chronicle_events \
         WHERE metadata->>'correlation_id' = $1 ORDER BY position",
        store.schema()
    ))
    .bind(Uuid::new_v4().to_string())
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("chronicle_events_correlation_id_idx"), "{plan}");
    tx.rollback().await.unwrap();
    cleanup(store).await;
}
