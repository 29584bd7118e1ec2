//! Crypto-shredding in the Postgres tables themselves: the event table holds no plaintext of a
//! `#[pii]` field, the key table (migrated beside the events) a key per subject, and after
//! `forget` a tombstone without the key and no snapshot holding the subject's data. Inline
//! projections, applied inside the append, are handed the plaintext as runners are, and prepared
//! again after `forget` they hold none of the subject's data.

use chronicle::sqlx;
use chronicle::Chronicle;
use chronicle_tests::conformance::forgetting::{address_of, email_of, register_and_move, Customer};
use chronicle_tests::wait::{eventually, DEADLINE};

use super::{cleanup, fresh_store};
use chronicle::prelude::*;
use chronicle::sqlx::PgConnection;
use chronicle::FORGOTTEN;
use chronicle_tests::conformance::forgetting::CustomerRegistered;
use chronicle_tests::support;

/// Customers' emails, written in the append's transaction.
macro_rules! inline_emails {
    ($name:ident, $version:literal) => {
        struct $name;

        #[projection(name = "test.inline_emails", version = $version)]
        impl $name {
            #[reset]
            async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS inline_emails (customer_id TEXT PRIMARY KEY, email TEXT NOT NULL)",
                )
                .execute(&mut *db)
                .await?;
                sqlx::query("DELETE FROM inline_emails").execute(&mut *db).await.map(drop)
            }

            #[on]
            async fn registered(&self, event: &CustomerRegistered, db: &mut PgConnection) -> Result<(), sqlx::Error> {
                sqlx::query("INSERT INTO inline_emails (customer_id, email) VALUES ($1, $2)")
                    .bind(&event.customer_id)
                    .bind(&event.email)
                    .execute(&mut *db)
                    .await
                    .map(drop)
            }
        }
    };
}
inline_emails!(InlineEmailsV1, 1);
inline_emails!(InlineEmailsV2, 2);

async fn inline_emails(store: &PostgresStore) -> Vec<(String, String)> {
    sqlx::query_as(&format!(
        "SELECT customer_id, email FROM \"{}\".inline_emails ORDER BY customer_id",
        store.schema()
    ))
    .fetch_all(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn inline_projections_are_handed_the_plaintext_and_prepared_again_forget_it() {
    let plain = support::unmigrated_postgres_store().await;
    let store = plain.clone().with_inline(InlineEmailsV1);
    store.migrate().await.unwrap();
    let chronicle = Chronicle::new(store.clone());
    register_and_move(&chronicle, "c-1").await;
    register_and_move(&chronicle, "c-2").await;
    assert_eq!(
        inline_emails(&store).await,
        vec![("c-1".into(), email_of("c-1")), ("c-2".into(), email_of("c-2"))],
        "the view is written in the clear the moment the command returns"
    );

    chronicle.forget("c-1").await.unwrap();
    // The next version of the view is prepared from the stored events: c-1's email is gone.
    let next = plain.clone().with_inline(InlineEmailsV2);
    next.migrate().await.unwrap();
    assert_eq!(
        inline_emails(&next).await,
        vec![("c-1".into(), FORGOTTEN.into()), ("c-2".into(), email_of("c-2"))]
    );
    cleanup(plain).await;
}

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
