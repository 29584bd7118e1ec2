//! The book's Postgres balance view: batch handlers (projections chapter), inline (same chapter),
//! replayed into the past (time travel).

// ANCHOR: view
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};

// The bank's events, from the write-side chapter.
use bank::{AccountOpened, MoneyDeposited, MoneyWithdrawn};

/// One row per account: its owner and balance.
pub struct Balances;

#[projection(name = "bank.balances", version = 1)]
impl Balances {
    // ANCHOR: reset
    /// Leaves an empty `balances` table: creates it if missing, then empties it. Safe to run any
    /// number of times, in a new schema or an existing one.
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS balances (
                 account_id TEXT PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT NOT NULL)",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM balances").execute(&mut *db).await?;
        Ok(())
    }
    // ANCHOR_END: reset

    // ANCHOR: batch
    /// A run of openings: one row each, in one statement.
    #[on]
    async fn opened(&self, events: &[AccountOpened], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        let ids: Vec<&str> = events.iter().map(|e| e.account_id.as_str()).collect();
        let owners: Vec<&str> = events.iter().map(|e| e.owner.as_str()).collect();
        sqlx::query(
            "INSERT INTO balances (account_id, owner, balance)
             SELECT id, owner, 0 FROM UNNEST($1::text[], $2::text[]) AS a(id, owner)",
        )
        .bind(ids)
        .bind(owners)
        .execute(&mut *db)
        .await?;
        Ok(())
    }

    /// A run of deposits: one `UPDATE` for all of them, summed per account first, since one
    /// `UPDATE ... FROM` changes each row at most once.
    #[on]
    async fn deposited(&self, events: &[MoneyDeposited], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        add_to_balances(db, events.iter().map(|e| (e.account_id.as_str(), e.amount))).await
    }

    #[on]
    async fn withdrawn(&self, events: &[MoneyWithdrawn], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        add_to_balances(db, events.iter().map(|e| (e.account_id.as_str(), -e.amount))).await
    }
    // ANCHOR_END: batch

    #[query]
    async fn balance(
        &self,
        query: &BalanceOf,
        db: &mut ReadOnly<'_, PgConnection>,
    ) -> Result<Option<i64>, sqlx::Error> {
        db.fetch_optional(
            sqlx::query_scalar("SELECT balance FROM balances WHERE account_id = $1").bind(&query.account_id),
        )
        .await
    }
}

/// Adds each account's changes to its balance, with one statement.
async fn add_to_balances(
    db: &mut PgConnection,
    changes: impl Iterator<Item = (&str, i64)>,
) -> Result<(), sqlx::Error> {
    let (ids, amounts): (Vec<&str>, Vec<i64>) = changes.unzip();
    sqlx::query(
        "UPDATE balances AS b SET balance = b.balance + c.amount
         FROM (SELECT id, sum(amount)::bigint AS amount
               FROM UNNEST($1::text[], $2::bigint[]) AS d(id, amount) GROUP BY id) AS c
         WHERE b.account_id = c.id",
    )
    .bind(ids)
    .bind(amounts)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// The balance of one account, if the view has it.
#[derive(Query)]
#[query(output = Option<i64>, read_model = Balances)]
pub struct BalanceOf {
    pub account_id: String,
}
// ANCHOR_END: view

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_events_are_written_together_and_rebuilds_start_over() {
    use std::time::Duration;

    use bank::{Deposit, OpenAccount, Withdraw};

    let store = chronicle_tests::support::postgres_store().await;
    let views = PostgresReadStore::beside(&store);
    views.migrate().await.unwrap();
    let bank = Chronicle::new(store.clone());
    for id in ["a", "b"] {
        let open = OpenAccount {
            account_id: id.into(),
            owner: id.to_uppercase(),
            overdraft_limit: 50,
        };
        bank.execute(open).await.unwrap();
    }
    for (id, amount) in [("a", 10), ("a", 5), ("b", 7)] {
        let deposit = Deposit {
            account_id: id.into(),
            amount,
        };
        bank.execute(deposit).await.unwrap();
    }
    let last = bank
        .execute(Withdraw {
            account_id: "a".into(),
            amount: 40,
        })
        .await
        .unwrap();

    let read_side = ReadSide::new(store, views);
    let runner = read_side.runner(Balances).spawn();
    let wait = Duration::from_secs(10);
    let of = |id: &str| BalanceOf {
        account_id: id.into(),
    };
    let a = read_side
        .query_consistent(&Balances, &of("a"), &last, wait)
        .await
        .unwrap();
    assert_eq!(
        (a, read_side.query(&Balances, &of("b")).await.unwrap()),
        (Some(-25), Some(7))
    );

    runner.rebuild().await.unwrap();
    runner.wait_until_caught_up(wait).await.unwrap();
    assert_eq!(read_side.query(&Balances, &of("a")).await.unwrap(), Some(-25));
    runner.stop().await.into_result().unwrap();
}
