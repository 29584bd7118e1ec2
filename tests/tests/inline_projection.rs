//! Inline projections: the read model is written in the append's own transaction, so it is never
//! stale, and a failing handler takes the append down with it.

use bank::views::postgres::{AccountBalances, BalanceOf};
use bank::{Deposit, OpenAccount, Withdraw};
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{HandlerError, Projection, ReadSide, RecordedEvent, StoreError};
use chronicle_tests::support;

async fn balance_table(store: &PostgresStore) {
    let mut connection = store.pool().acquire().await.unwrap();
    Projection::reset(&AccountBalances, &mut connection)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_view_is_current_the_moment_the_command_returns() {
    let store = support::postgres_store().await;
    balance_table(&store).await;
    // ANCHOR: inline
    let bank = Chronicle::new(store.clone().with_inline(AccountBalances));
    bank.execute(OpenAccount {
        account_id: "i-1".into(),
        owner: "Ada".into(),
        overdraft_limit: 10,
    })
    .await
    .unwrap();
    bank.execute(Deposit {
        account_id: "i-1".into(),
        amount: 70,
    })
    .await
    .unwrap();
    bank.execute(Withdraw {
        account_id: "i-1".into(),
        amount: 20,
    })
    .await
    .unwrap();

    // No runner and no waiting: the query sees every write already.
    let views = support::postgres_read_store_beside(&store).await;
    let read_side = ReadSide::new(store.clone(), views);
    let balance = read_side
        .query(
            &AccountBalances,
            &BalanceOf {
                account_id: "i-1".into(),
            },
        )
        .await
        .unwrap()
        .expect("the account is in the view");
    assert_eq!((balance.balance, balance.available), (50, 60));
    // ANCHOR_END: inline
}

/// Fails on deposits above a threshold, as a stand-in for a broken read model.
#[derive(Default)]
struct Fussy;

#[derive(Debug, thiserror::Error)]
#[error("deposit of {0} refused by the read model")]
struct TooBig(i64);

#[projection(name = "test.fussy")]
impl Fussy {
    #[on]
    async fn deposited(
        &self,
        event: &bank::MoneyDeposited,
        _meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        sqlx::query("SELECT 1")
            .execute(&mut *db)
            .await
            .map_err(HandlerError::new)?;
        if event.amount > 100 {
            return Err(HandlerError::new(TooBig(event.amount)));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_inline_handler_rolls_the_append_back() {
    let store = support::postgres_store().await;
    let bank = Chronicle::new(store.clone().with_inline(Fussy));
    bank.execute(OpenAccount {
        account_id: "i-2".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    })
    .await
    .unwrap();
    bank.execute(Deposit {
        account_id: "i-2".into(),
        amount: 100,
    })
    .await
    .unwrap();
    let error = bank
        .execute(Deposit {
            account_id: "i-2".into(),
            amount: 101,
        })
        .await
        .unwrap_err();
    match &error {
        CommandError::Store(StoreError::InlineProjection {
            projection: "test.fussy",
            source,
        }) => {
            assert!(source.to_string().contains("deposit of 101"), "{source}");
        }
        other => panic!("expected an inline projection error, got {other:?}"),
    }
    // Nothing of the failed command was stored.
    assert_eq!(store.read_stream("bank.Account-i-2", 0).await.unwrap().len(), 2);
}
