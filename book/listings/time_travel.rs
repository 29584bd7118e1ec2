//! The book's replay of a read model into the past (time-travel chapter).

// ANCHOR: replay
use chronicle::prelude::*;
use chronicle::{replay_until, Until};

// The balance view of the projections chapter.
use crate::balances::Balances;

/// The balance view as it was when the log ended at `position`, built in a schema of its own
/// next to `store`'s: the live view, its runner and its checkpoint are not touched.
pub async fn balances_as_of(
    store: &PostgresStore,
    position: u64,
) -> Result<PostgresReadStore, Box<dyn std::error::Error>> {
    let past = PostgresReadStore::from_pool(store.pool().clone())
        .with_schema(&format!("{}_past", store.schema()))?;
    let replayed = replay_until(store, &Balances, &past, Until::Position(position)).await?;
    println!(
        "applied {} events of the log through position {:?}",
        replayed.applied, replayed.through
    );
    Ok(past)
}
// ANCHOR_END: replay

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replayed_view_is_the_live_view_as_it_was() {
    use std::time::Duration;

    use bank::{Deposit, OpenAccount};

    use crate::balances::BalanceOf;

    let store = chronicle_tests::support::postgres_store().await;
    let live = PostgresReadStore::from_pool(store.pool().clone())
        .with_schema(store.schema())
        .unwrap();
    live.migrate().await.unwrap();
    let bank = Chronicle::new(store.clone());
    let open = OpenAccount {
        account_id: "t".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    };
    bank.execute(open).await.unwrap();
    let deposit = |amount| Deposit {
        account_id: "t".into(),
        amount,
    };
    let then = bank.execute(deposit(100)).await.unwrap();
    let now = bank.execute(deposit(5)).await.unwrap();

    let read_side = ReadSide::new(store.clone(), live);
    let runner = read_side.runner(Balances).spawn();
    let query = BalanceOf {
        account_id: "t".into(),
    };
    let wait = Duration::from_secs(10);
    let live_now = read_side
        .query_consistent(&Balances, &query, &now, wait)
        .await
        .unwrap();
    assert_eq!(live_now, Some(105));

    let past = balances_as_of(&store, then.position.unwrap()).await.unwrap();
    let past_side = ReadSide::new(store.clone(), past);
    assert_eq!(past_side.query(&Balances, &query).await.unwrap(), Some(100));
    assert_eq!(read_side.query(&Balances, &query).await.unwrap(), Some(105));
    runner.stop().await.into_result().unwrap();
}
