//! The fixes shown in "When the compiler says no", compiled: the compile-fail cases of `tests/ui`
//! written the way the compiler asks, with the same names (`Account`, `Deposit`, `Deposited`,
//! `Closed`, `Balances`, `BalanceOf`).

// ANCHOR: events
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited")]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyWithdrawn")]
pub struct Withdrawn {
    pub amount: i64,
}
// ANCHOR_END: events

// ANCHOR: command
#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Deposit {
    #[id]
    pub account_id: String,
    pub amount: i64,
}
// ANCHOR_END: command

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Withdraw {
    #[id]
    pub account_id: String,
    pub amount: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("the account is closed")]
pub struct Closed;

// ANCHOR: aggregate
#[derive(Default, Clone, Debug)]
pub struct Account {
    balance: i64,
}

#[aggregate]
impl Account {
    // ANCHOR: handle
    #[handle]
    fn deposit(&self, command: Deposit) -> Result<Deposited, Closed> {
        Ok(Deposited {
            amount: command.amount,
        })
    }
    // ANCHOR_END: handle

    #[handle]
    fn withdraw(&self, command: &Withdraw) -> Result<Withdrawn, Closed> {
        Ok(Withdrawn {
            amount: command.amount,
        })
    }

    // ANCHOR: apply
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
    // ANCHOR_END: apply

    #[apply]
    fn withdrawn(&mut self, event: &Withdrawn) {
        self.balance -= event.amount;
    }
}
// ANCHOR_END: aggregate

pub struct Balances;

#[projection]
impl Balances {
    #[on]
    async fn deposited(
        &self,
        event: &Deposited,
        meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> sqlx::Result<()> {
        sqlx::query("UPDATE balances SET balance = balance + $2 WHERE id = $1")
            .bind(&meta.stream_id)
            .bind(event.amount)
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    // ANCHOR: query
    #[query]
    async fn balance(
        &self,
        query: &BalanceOf,
        db: &mut ReadOnly<'_, PgConnection>,
    ) -> Result<Option<i64>, sqlx::Error> {
        db.fetch_optional(
            sqlx::query_scalar("SELECT balance FROM balances WHERE id = $1").bind(&query.account_id),
        )
        .await
    }
    // ANCHOR_END: query
}

#[derive(Query)]
#[query(output = Option<i64>, read_model = Balances)]
pub struct BalanceOf {
    pub account_id: String,
}

#[test]
fn the_fixed_aggregate_decides() {
    use chronicle::testing::AggregateTest;

    AggregateTest::<Account>::given([Deposited { amount: 5 }.into()])
        .when(Withdraw {
            account_id: "a".into(),
            amount: 2,
        })
        .then_expect_events([Withdrawn { amount: 2 }.into()]);
    assert_eq!(Balances::EVENT_TYPES, ["bank.MoneyDeposited"]);
}
