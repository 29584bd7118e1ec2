//! The book's given/then test of a view (projections chapter).

// ANCHOR: test
use chronicle::testing::ProjectionTest;
use chronicle::SqlReadStore;

// The bank's views, written once for every SQL engine (the example's crate is called `bank`).
use bank::views::{AccountBalances, BalanceOf};
use bank::{AccountOpened, MoneyDeposited};

#[tokio::test]
async fn a_deposit_shows_in_the_balance() -> Result<(), Box<dyn std::error::Error>> {
    // A migrated store in a file of its own, deleted when the test ends: no server needed.
    let store = SqlReadStore::temporary().await?;
    let mut test = ProjectionTest::new(store, AccountBalances).await?;

    // Given: events recorded on their streams, applied through the view's handlers.
    let opened = AccountOpened {
        account_id: "a".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    };
    test.given("bank.Account-a", opened).await?;
    let deposited = MoneyDeposited {
        account_id: "a".into(),
        amount: 25,
    };
    test.given("bank.Account-a", deposited).await?;

    // Then: what the view's query answers, through a read-only transaction as in production.
    let balance = test
        .answer(&BalanceOf {
            account_id: "a".into(),
        })
        .await?;
    assert_eq!(balance.map(|b| b.balance), Some(25));
    Ok(())
}
// ANCHOR_END: test
