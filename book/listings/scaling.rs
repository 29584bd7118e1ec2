//! The book's partitioned worker (scaling chapter): the bank's balances in four partitions.

use std::time::Duration;

use bank::views::AccountBalances;
use chronicle::prelude::*;
use chronicle::{PartitionedHandle, SqlReadStore};

// ANCHOR: worker
/// One worker of the balances, in four partitions; start one per process.
pub fn balances_worker(
    events: PostgresStore,
    views: SqlReadStore,
) -> PartitionedHandle<AccountBalances, PostgresStore> {
    PartitionedRunner::new(events, views, AccountBalances, 4)
        .batch_size(500)
        .lease(Duration::from_secs(10))
        .spawn()
}
// or, on a read side: read_side.partitioned(AccountBalances, 4).spawn()
// ANCHOR_END: worker

#[tokio::test]
async fn two_workers_share_the_balances() {
    let bank = chronicle_tests::support::PgBank::new().await;
    bank.open("scaling").await;
    let receipt = bank.deposit("scaling", 12).await;
    let views = SqlReadStore::from(chronicle_tests::support::postgres_read_store_elsewhere().await);
    let (one, two) = (
        balances_worker(bank.store.clone(), views.clone()),
        balances_worker(bank.store.clone(), views.clone()),
    );
    one.wait_for(&receipt, Duration::from_secs(30)).await.unwrap();
    let side = ReadSide::new(bank.store.clone(), views);
    let balance = side
        .query(
            &AccountBalances,
            &bank::views::BalanceOf {
                account_id: "scaling".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(balance.map(|b| b.balance), Some(12));
    one.stop().await.into_result().unwrap();
    two.stop().await.into_result().unwrap();
}
