//! The bank's views written for Postgres alone, on `PgConnection`: arrays bound whole and
//! `UNNEST`ed, one statement per run whatever its length. An inline projection needs them (it
//! runs inside the event store's own append transaction, on its connection), and the benchmark
//! measures the portable views of `bank::views` against them. An application on one engine may
//! write its views this way; one that runs on several writes them once, on `Sql`.

use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::ReadOnly;

use super::{net_changes, AccountBalance};
use crate::{AccountOpened, MoneyDeposited, MoneyWithdrawn};

type BalanceRow = (String, String, i64, i64);

/// The batch statements of the views: arrays, one statement per run.
trait BatchWrites {
    /// Inserts a row with balance 0 for each opened account into `table`, whose columns are
    /// `(account_id, owner, balance)`, followed by `overdraft_limit` when `with_limit`.
    async fn insert_accounts(
        &mut self,
        table: &str,
        opened: &[AccountOpened],
        with_limit: bool,
    ) -> Result<(), sqlx::Error>;

    /// Adds each account's net change to its balance in `table`.
    async fn add_to_balances(&mut self, table: &str, changes: &[(&str, i64)]) -> Result<(), sqlx::Error>;
}

impl BatchWrites for PgConnection {
    async fn insert_accounts(
        &mut self,
        table: &str,
        opened: &[AccountOpened],
        with_limit: bool,
    ) -> Result<(), sqlx::Error> {
        let ids: Vec<&str> = opened.iter().map(|e| e.account_id.as_str()).collect();
        let owners: Vec<&str> = opened.iter().map(|e| e.owner.as_str()).collect();
        let limits: Vec<i64> = opened.iter().map(|e| e.overdraft_limit).collect();
        let limit = if with_limit { ", a.overdraft_limit" } else { "" };
        let sql = format!(
            "INSERT INTO {table} SELECT a.account_id, a.owner, 0{limit} \
             FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS a(account_id, owner, overdraft_limit)"
        );
        sqlx::query(&sql)
            .bind(ids)
            .bind(owners)
            .bind(limits)
            .execute(self)
            .await
            .map(drop)
    }

    async fn add_to_balances(&mut self, table: &str, changes: &[(&str, i64)]) -> Result<(), sqlx::Error> {
        let (ids, deltas): (Vec<&str>, Vec<i64>) = changes.iter().copied().unzip();
        let sql = format!(
            "UPDATE {table} AS b SET balance = b.balance + c.delta \
             FROM UNNEST($1::text[], $2::bigint[]) AS c(account_id, delta) WHERE b.account_id = c.account_id"
        );
        sqlx::query(&sql)
            .bind(ids)
            .bind(deltas)
            .execute(self)
            .await
            .map(drop)
    }
}

/// One row per account with its owner and balance.
#[derive(Default)]
pub struct AccountBalances;

#[projection(name = "bank.account_balances", version = 1)]
impl AccountBalances {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bank_account_balances (account_id TEXT PRIMARY KEY,
                 owner TEXT NOT NULL, balance BIGINT NOT NULL, overdraft_limit BIGINT NOT NULL)",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM bank_account_balances")
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    // Batch handlers: each gets a run of consecutive events of its type, in order.
    #[on]
    async fn opened(&self, events: &[AccountOpened], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        db.insert_accounts("bank_account_balances", events, true).await
    }

    #[on]
    async fn deposited(&self, events: &[MoneyDeposited], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
        db.add_to_balances("bank_account_balances", &changes).await
    }

    #[on]
    async fn withdrawn(&self, events: &[MoneyWithdrawn], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
        db.add_to_balances("bank_account_balances", &changes).await
    }

    #[query]
    async fn balance(
        &self,
        query: &BalanceOf,
        db: &mut ReadOnly<'_, PgConnection>,
    ) -> Result<Option<AccountBalance>, sqlx::Error> {
        let row: Option<BalanceRow> = db
            .fetch_optional(
                sqlx::query_as(
                    "SELECT account_id, owner, balance, overdraft_limit FROM bank_account_balances
                     WHERE account_id = $1",
                )
                .bind(&query.account_id),
            )
            .await?;
        Ok(row.map(AccountBalance::from))
    }
}

/// The balance of one account, if it exists.
#[derive(Query)]
#[query(output = Option<AccountBalance>, read_model = AccountBalances)]
pub struct BalanceOf {
    pub account_id: String,
}

/// The accounts with the highest balances, kept as their own view so the ranking query
/// is one indexed scan.
#[derive(Default)]
pub struct TopAccounts;

#[projection(name = "bank.top_accounts", version = 1)]
impl TopAccounts {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bank_top_accounts (account_id TEXT PRIMARY KEY,
                 owner TEXT NOT NULL, balance BIGINT NOT NULL)",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query(
            "CREATE INDEX IF NOT EXISTS bank_top_accounts_by_balance ON bank_top_accounts (balance DESC)",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM bank_top_accounts")
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    #[on]
    async fn opened(&self, events: &[AccountOpened], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        db.insert_accounts("bank_top_accounts", events, false).await
    }

    #[on]
    async fn deposited(&self, events: &[MoneyDeposited], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
        db.add_to_balances("bank_top_accounts", &changes).await
    }

    #[on]
    async fn withdrawn(&self, events: &[MoneyWithdrawn], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
        db.add_to_balances("bank_top_accounts", &changes).await
    }

    #[query]
    async fn top(
        &self,
        query: &Richest,
        db: &mut ReadOnly<'_, PgConnection>,
    ) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
        db.fetch_all(
            sqlx::query_as(
                "SELECT account_id, owner, balance FROM bank_top_accounts
                 ORDER BY balance DESC, account_id LIMIT $1",
            )
            .bind(query.limit),
        )
        .await
    }
}

/// The `limit` accounts with the highest balances: (account id, owner, balance).
#[derive(Query)]
#[query(output = Vec<(String, String, i64)>, read_model = TopAccounts)]
pub struct Richest {
    pub limit: i64,
}
