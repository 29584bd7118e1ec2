//! Crypto-shredding in the Postgres tables themselves: the event table holds no plaintext of a
//! `#[pii]` field, the key table (migrated beside the events) a key per subject, and after
//! `forget` a tombstone without the key and no snapshot holding the subject's data.

use chronicle::sqlx;
use chronicle::Chronicle;
use chronicle_tests::conformance::forgetting::{address_of, email_of, register_and_move, Customer};
use chronicle_tests::wait::{eventually, DEADLINE};

use super::{cleanup, fresh_store};

#[tokio::test]
async fn the_tables_hold_no_plaintext_and_forget_leaves_a_tombstone() {
    let store = fresh_store().await;
    store.migrate().await.expect("migrating again changes nothing");
    let schema = store.schema().to_owned();
    let chronicle = Chronicle::new(store.clone());
    register_and_move(&chronicle, "c-1").await;

    let payloads: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT payload::text FROM \"{schema}\".chronicle_events ORDER BY position"
    ))
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(payloads.len(), 2);
    for payload in &payloads {
        assert!(!payload.contains(&email_of("c-1")), "{payload}");
        assert!(!payload.contains(&address_of("c-1")), "{payload}");
        assert!(payload.contains("chronicle:pii"), "{payload}");
    }
    let keys: Vec<(String, Option<Vec<u8>>)> = sqlx::query_as(&format!(
        "SELECT subject, key FROM \"{schema}\".chronicle_subject_keys"
    ))
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].0, "c-1");
    assert_eq!(keys[0].1.as_ref().map(Vec::len), Some(32));

    // The snapshot (every 2 events) is the state: the data in the clear.
    let state: String = eventually("the snapshot", DEADLINE, || async {
        sqlx::query_scalar(&format!(
            "SELECT state::text FROM \"{schema}\".chronicle_snapshots"
        ))
        .fetch_optional(store.pool())
        .await
        .unwrap()
    })
    .await;
    assert!(state.contains(&email_of("c-1")), "{state}");

    chronicle.forget("c-1").await.expect("forget");
    let tombstone: (Option<Vec<u8>>, bool) = sqlx::query_as(&format!(
        "SELECT key, forgotten_at IS NOT NULL FROM \"{schema}\".chronicle_subject_keys WHERE subject = 'c-1'"
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(tombstone, (None, true));
    let snapshots: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM \"{schema}\".chronicle_snapshots"))
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(snapshots, 0, "the snapshot holding the subject's data is gone");
    let loaded = chronicle.load::<Customer>("c-1").await.unwrap();
    assert_eq!(loaded.state.email, chronicle::FORGOTTEN);
    cleanup(store).await;
}
