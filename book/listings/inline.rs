//! The book's inline projection (projections chapter).

// ANCHOR: inline
use chronicle::prelude::*;

// The balance view of the batch handlers section, and the bank's commands.
use crate::balances::{BalanceOf, Balances};
use bank::{Deposit, OpenAccount, Withdraw};

/// The bank with its balance view updated inline, on the Postgres database at `url`, with its
/// tables in `schema`.
pub async fn inline_balances(url: &str, schema: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = PostgresStore::connect(url)
        .await?
        .with_schema(schema)?
        .with_inline(Balances);
    // Creates chronicle_events if missing, then prepares the inline read model once per version
    // of the projection: its #[reset], then every event of its types already stored.
    store.migrate().await?;

    let bank = Chronicle::new(store.clone());
    let open = OpenAccount {
        account_id: "i-1".into(),
        owner: "Ada".into(),
        overdraft_limit: 10,
    };
    bank.execute(open).await?;
    bank.execute(Deposit {
        account_id: "i-1".into(),
        amount: 70,
    })
    .await?;
    bank.execute(Withdraw {
        account_id: "i-1".into(),
        amount: 20,
    })
    .await?;

    // Queries read the view through a read store beside the events (same pool, same schema). No
    // runner and no waiting: the view was written in each command's own transaction.
    let views = PostgresReadStore::beside(&store);
    let read_side = ReadSide::new(store, views);
    let balance = read_side
        .query(
            &Balances,
            &BalanceOf {
                account_id: "i-1".into(),
            },
        )
        .await?;
    assert_eq!(balance, Some(50));
    Ok(())
}
// ANCHOR_END: inline

#[tokio::test]
async fn the_inline_view_is_current_when_the_command_returns() {
    let schema = format!("book_inline_{}", uuid::Uuid::new_v4().simple());
    let url = chronicle_tests::support::database_url();
    // The test database exists once any store of the support module has connected.
    chronicle_tests::support::postgres_store().await;
    inline_balances(&url, &schema).await.unwrap();
    // A second start finds the read model prepared at this version and leaves it alone.
    let store = PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_schema(&schema)
        .unwrap()
        .with_inline(Balances);
    store.migrate().await.unwrap();
    let rows: i64 = chronicle::sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.balances"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1);
    chronicle::sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(store.pool())
        .await
        .unwrap();
}
