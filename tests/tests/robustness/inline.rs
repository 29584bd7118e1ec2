//! Inline projections see exactly their store's schema, on every connection and through group
//! commit (issue 10, defect 1), and `migrate` prepares their read models (defect 2).

use chronicle::prelude::*;
use chronicle::sqlx;
use chronicle::GroupCommit;
use futures_util::future::join_all;

use super::common::{counted, deposit, open, plain_store, Counts};

/// A table of the view's name in `public` too: another tenant's, another deployment's. The
/// inline handlers must never write there.
async fn decoy_in_public(store: &PostgresStore) -> i64 {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS public.robust_counts (stream_id TEXT PRIMARY KEY, n BIGINT NOT NULL)",
    )
    .execute(store.pool())
    .await
    .expect("the decoy table");
    sqlx::query_scalar("SELECT count(*) FROM public.robust_counts")
        .fetch_one(store.pool())
        .await
        .expect("count the decoy")
}

async fn decoy_rows(store: &PostgresStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM public.robust_counts")
        .fetch_one(store.pool())
        .await
        .expect("count the decoy")
}

#[tokio::test]
async fn inline_handlers_write_to_their_stores_schema_not_to_public() {
    let plain = plain_store().await;
    let before = decoy_in_public(&plain).await;
    let store = plain.with_inline(Counts);
    store
        .migrate()
        .await
        .expect("migrate prepares the view in the store's schema");
    let bank = Chronicle::new(store.clone());
    bank.execute(open("s-1")).await.expect("open");
    bank.execute(deposit("s-1", 5)).await.expect("deposit");

    assert_eq!(counted(&store, store.schema(), "bank.Account-s-1").await, Some(2));
    assert_eq!(decoy_rows(&store).await, before, "nothing was written to public");
}

#[tokio::test]
async fn inline_handlers_see_their_schema_through_group_commit() {
    let plain = plain_store().await;
    let before = decoy_in_public(&plain).await;
    let store = plain
        .with_inline(Counts)
        .with_group_commit(GroupCommit::default());
    store.migrate().await.expect("migrate");
    let bank = Chronicle::new(store.clone());
    // Concurrent commands on distinct streams, so that the committers group them.
    let ids: Vec<String> = (0..20).map(|i| format!("g-{i}")).collect();
    join_all(ids.iter().map(|id| bank.execute(open(id))))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("every open");
    join_all(ids.iter().map(|id| bank.execute(deposit(id, 1))))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("every deposit");
    for id in &ids {
        assert_eq!(
            counted(&store, store.schema(), &format!("bank.Account-{id}")).await,
            Some(2),
            "{id}"
        );
    }
    assert_eq!(decoy_rows(&store).await, before, "nothing was written to public");
}

#[tokio::test]
async fn migrate_prepares_an_inline_view_from_the_events_already_stored_once() {
    // Events recorded before the view existed.
    let plain = plain_store().await;
    let bank = Chronicle::new(plain.clone());
    bank.execute(open("p-1")).await.expect("open");
    bank.execute(deposit("p-1", 1)).await.expect("deposit");
    bank.execute(deposit("p-1", 2)).await.expect("deposit");

    let store = plain.with_inline(Counts);
    // Twice, and from two handles at once: prepared once, under the lock.
    let other = store.clone();
    let (first, second) = tokio::join!(store.migrate(), other.migrate());
    first.expect("migrate");
    second.expect("migrate");
    store.migrate().await.expect("migrate again");
    assert_eq!(
        counted(&store, store.schema(), "bank.Account-p-1").await,
        Some(3),
        "the view holds the stored events exactly once"
    );

    // New commands update the prepared view inline.
    Chronicle::new(store.clone())
        .execute(deposit("p-1", 3))
        .await
        .expect("deposit");
    assert_eq!(counted(&store, store.schema(), "bank.Account-p-1").await, Some(4));
}

/// The same view at a new version: `migrate` rebuilds it from the log.
#[derive(Default)]
struct CountsV2;

#[projection(name = "test.robust_counts", version = 2)]
impl CountsV2 {
    #[reset]
    async fn reset(&self, db: &mut chronicle::sqlx::PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS robust_counts (stream_id TEXT PRIMARY KEY, n BIGINT NOT NULL)",
        )
        .execute(&mut *db)
        .await?;
        // Version 2 counts in tens.
        sqlx::query("DELETE FROM robust_counts").execute(&mut *db).await?;
        Ok(())
    }

    #[on]
    async fn opened(
        &self,
        _event: &bank::AccountOpened,
        meta: &RecordedEvent,
        db: &mut chronicle::sqlx::PgConnection,
    ) -> Result<(), sqlx::Error> {
        tens(db, &meta.stream_id).await
    }

    #[on]
    async fn deposited(
        &self,
        _event: &bank::MoneyDeposited,
        meta: &RecordedEvent,
        db: &mut chronicle::sqlx::PgConnection,
    ) -> Result<(), sqlx::Error> {
        tens(db, &meta.stream_id).await
    }
}

async fn tens(db: &mut chronicle::sqlx::PgConnection, stream_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO robust_counts (stream_id, n) VALUES ($1, 10) \
         ON CONFLICT (stream_id) DO UPDATE SET n = robust_counts.n + 10",
    )
    .bind(stream_id)
    .execute(&mut *db)
    .await
    .map(drop)
}

#[tokio::test]
async fn a_new_version_of_an_inline_view_is_prepared_again() {
    let plain = plain_store().await;
    let v1 = plain.clone().with_inline(Counts);
    v1.migrate().await.expect("migrate v1");
    let bank = Chronicle::new(v1.clone());
    bank.execute(open("v-1")).await.expect("open");
    bank.execute(deposit("v-1", 1)).await.expect("deposit");
    assert_eq!(counted(&v1, v1.schema(), "bank.Account-v-1").await, Some(2));

    let v2 = plain.with_inline(CountsV2);
    v2.migrate().await.expect("migrate v2");
    v2.migrate().await.expect("migrate v2 again");
    assert_eq!(counted(&v2, v2.schema(), "bank.Account-v-1").await, Some(20));
}
