//! Dead letters belong to the projection version that recorded them, and a rebuild that applies
//! the event at last deletes its record (issue 10, defect 5).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::RetryPolicy;

use chronicle_tests::conformance::write::{deposit, open};
use chronicle_tests::support;

#[derive(Debug, thiserror::Error)]
#[error("the view refuses a deposit of 13")]
struct Unlucky;

async fn record(db: &mut PgConnection, event: &bank::MoneyDeposited) -> Result<(), HandlerError> {
    sqlx::query("CREATE TABLE IF NOT EXISTS robust_deposits (account_id TEXT, amount BIGINT)")
        .execute(&mut *db)
        .await
        .map_err(HandlerError::new)?;
    sqlx::query("INSERT INTO robust_deposits VALUES ($1, $2)")
        .bind(&event.account_id)
        .bind(event.amount)
        .execute(&mut *db)
        .await
        .map(drop)
        .map_err(HandlerError::new)
}

async fn empty(db: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("CREATE TABLE IF NOT EXISTS robust_deposits (account_id TEXT, amount BIGINT)")
        .execute(&mut *db)
        .await?;
    sqlx::query("DELETE FROM robust_deposits")
        .execute(&mut *db)
        .await
        .map(drop)
}

/// Refuses deposits of 13 until it is fixed.
#[derive(Default, Clone)]
struct Deposits {
    fixed: Arc<AtomicBool>,
}

#[projection(name = "test.robust_deposits", version = 1)]
impl Deposits {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        empty(db).await
    }

    #[on]
    async fn deposited(
        &self,
        event: &bank::MoneyDeposited,
        db: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        if event.amount == 13 && !self.fixed.load(Ordering::SeqCst) {
            return Err(HandlerError::new(Unlucky));
        }
        record(db, event).await
    }
}

/// The fixed handler, released as a new version.
#[derive(Default)]
struct DepositsV2;

#[projection(name = "test.robust_deposits", version = 2)]
impl DepositsV2 {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        empty(db).await
    }

    #[on]
    async fn deposited(
        &self,
        event: &bank::MoneyDeposited,
        db: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        record(db, event).await
    }
}

fn quick() -> RetryPolicy {
    RetryPolicy::new(2, Duration::from_millis(5))
}

async fn deposits_in_view(store: &PostgresStore) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"{}\".robust_deposits",
        store.schema()
    ))
    .fetch_one(store.pool())
    .await
    .expect("count")
}

async fn stored_dead_letters(store: &PostgresStore) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"{}\".chronicle_dead_letters WHERE projection = 'test.robust_deposits'",
        store.schema()
    ))
    .fetch_one(store.pool())
    .await
    .expect("count")
}

#[tokio::test]
async fn a_new_version_that_applies_a_dead_letter_clears_it() {
    let store = crate::fresh_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    let bank = Chronicle::new(store.clone());
    bank.execute(open("a")).await.expect("open");
    bank.execute(deposit("a", 13)).await.expect("deposit");
    let last = bank.execute(deposit("a", 1)).await.expect("deposit");

    let v1 = ProjectionRunner::new(store.clone(), read.clone(), Deposits::default())
        .retry(quick())
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    v1.wait_for(last.position, Duration::from_secs(10))
        .await
        .expect("v1 caught up");
    assert_eq!(v1.dead_letters().await.expect("dead letters").len(), 1);
    assert_eq!(deposits_in_view(&store).await, 1);
    v1.stop().await.into_result().expect("a clean stop");

    let v2 = ProjectionRunner::new(store.clone(), read.clone(), DepositsV2)
        .retry(quick())
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    v2.wait_for(last.position, Duration::from_secs(10))
        .await
        .expect("v2 rebuilt");
    assert!(v2.dead_letters().await.expect("dead letters").is_empty());
    assert_eq!(
        deposits_in_view(&store).await,
        2,
        "the formerly poisoned deposit is applied"
    );
    assert_eq!(
        stored_dead_letters(&store).await,
        0,
        "the old version's record is gone too"
    );
    v2.stop().await.into_result().expect("a clean stop");
}

#[tokio::test]
async fn a_rebuild_that_applies_a_dead_letter_clears_it() {
    let store = crate::fresh_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    let bank = Chronicle::new(store.clone());
    bank.execute(open("a")).await.expect("open");
    bank.execute(deposit("a", 13)).await.expect("deposit");
    let last = bank.execute(deposit("a", 2)).await.expect("deposit");

    let projection = Deposits::default();
    let fixed = Arc::clone(&projection.fixed);
    let runner = ProjectionRunner::new(store.clone(), read.clone(), projection)
        .retry(quick())
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    runner
        .wait_for(last.position, Duration::from_secs(10))
        .await
        .expect("caught up");
    let letters = runner.dead_letters().await.expect("dead letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].version, 1);

    // A rebuild while it still fails records it again (once); after the fix it clears it.
    runner.rebuild().await.expect("rebuild");
    runner
        .wait_until_caught_up(Duration::from_secs(10))
        .await
        .expect("rebuilt");
    assert_eq!(runner.dead_letters().await.expect("dead letters").len(), 1);
    fixed.store(true, Ordering::SeqCst);
    runner.rebuild().await.expect("rebuild");
    runner
        .wait_until_caught_up(Duration::from_secs(10))
        .await
        .expect("rebuilt");
    assert!(runner.dead_letters().await.expect("dead letters").is_empty());
    assert_eq!(deposits_in_view(&store).await, 2);
    runner.stop().await.into_result().expect("a clean stop");
}
