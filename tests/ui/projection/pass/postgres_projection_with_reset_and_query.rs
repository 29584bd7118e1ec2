// The whole DSL on Postgres: a pinned name and version, a `#[reset]` method, handlers with and
// without the envelope, and a `#[query]` method answering a `#[derive(Query)]` query.
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{Answer, Projection, PostgresReadStore, ReadOnly, RecordedEvent};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.AccountOpened")]
pub struct AccountOpened {
    pub account_id: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited")]
pub struct MoneyDeposited {
    pub account_id: String,
    pub amount: i64,
}

#[derive(Default)]
pub struct AccountBalances;

#[projection(name = "bank.account_balances", version = 2)]
impl AccountBalances {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("TRUNCATE account_balances").execute(&mut *db).await?;
        Ok(())
    }

    #[on]
    async fn opened(&self, event: &AccountOpened, meta: &RecordedEvent, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO account_balances (account_id, balance, opened_at) VALUES ($1, 0, $2)")
            .bind(&event.account_id)
            .bind(i64::try_from(meta.position).unwrap_or(i64::MAX))
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    #[on]
    async fn deposited(&self, event: &MoneyDeposited, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE account_balances SET balance = balance + $2 WHERE account_id = $1")
            .bind(&event.account_id)
            .bind(event.amount)
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    #[query]
    async fn balance(&self, query: &BalanceOf, db: &mut ReadOnly<'_, PgConnection>) -> Result<Option<i64>, sqlx::Error> {
        db.fetch_optional(
            sqlx::query_scalar("SELECT balance FROM account_balances WHERE account_id = $1").bind(&query.account_id),
        )
        .await
    }
}

#[derive(Query)]
#[query(output = Option<i64>, read_model = AccountBalances)]
pub struct BalanceOf {
    pub account_id: String,
}

fn answers<P: Answer<BalanceOf, Store = PostgresReadStore>>() {}

fn main() {
    answers::<AccountBalances>();
    assert_eq!(AccountBalances::NAME, "bank.account_balances");
    assert_eq!(AccountBalances::VERSION, 2);
    assert_eq!(AccountBalances::EVENT_TYPES, ["bank.AccountOpened", "bank.MoneyDeposited"]);
    assert!(AccountBalances::HAS_RESET);
}
