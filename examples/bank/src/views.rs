//! The bank's read side: an account-balance view and a "top accounts" view, written once for
//! every SQL engine. Their handlers take `&mut Sql` and their queries `&mut ReadOnly<'_, Sql>`,
//! so they run on a `SqlReadStore` on whichever engine the application starts with: tables in
//! the embedded SQLite file in development, beside `chronicle_events` in Postgres in production
//! (level 1), or in a MariaDB reporting database (level 2).
//!
//! The views are written with batch handlers: each takes a run of events as a slice and writes
//! it with one statement (a run of deposits becomes one `UPDATE` of the accounts involved), so a
//! rebuild or a catch-up costs a statement per run instead of one per event.
//!
//! `postgres` holds the same views written for Postgres alone (arrays and `UNNEST`): an inline
//! projection runs inside the event store's own transaction, on its `PgConnection`, and the
//! benchmark measures what writing once costs against them.

pub mod postgres;

use std::collections::BTreeMap;

use chronicle::prelude::*;
use chronicle::{sqlx, SqlEngine, SqlStatement};

use crate::{
    AccountOpened, MoneyDeposited, MoneyWithdrawn, TransferCredited, TransferDebited, TransferRefunded,
};

/// A row of the account-balance view.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountBalance {
    pub account_id: String,
    pub owner: String,
    pub balance: i64,
    /// How much can still be withdrawn: balance plus overdraft limit.
    pub available: i64,
}

type BalanceRow = (String, String, i64, i64);

impl From<BalanceRow> for AccountBalance {
    fn from((account_id, owner, balance, limit): BalanceRow) -> Self {
        Self {
            account_id,
            owner,
            balance,
            available: balance + limit,
        }
    }
}

/// The net change of each account over a run of deposits or withdrawals, one entry per account
/// however many events it had.
pub fn net_changes<'e>(changes: impl IntoIterator<Item = (&'e str, i64)>) -> Vec<(&'e str, i64)> {
    let mut net: BTreeMap<&str, i64> = BTreeMap::new();
    for (account_id, change) in changes {
        *net.entry(account_id).or_default() += change;
    }
    net.into_iter().collect()
}

/// How many rows one statement writes at most: well inside every engine's limit on placeholders
/// (SQLite's is the lowest, 32,766).
const ROWS_PER_STATEMENT: usize = 1_000;

// ANCHOR: portable_statements
/// Inserts a row with balance 0 for each opened account into `table`, whose columns are
/// `(account_id, owner, balance)`, followed by `overdraft_limit` when `with_limit`: one
/// multi-row `INSERT`, which every engine reads the same.
async fn insert_accounts(
    db: &mut Sql,
    table: &str,
    opened: &[AccountOpened],
    with_limit: bool,
) -> Result<(), sqlx::Error> {
    let limit = if with_limit { ", overdraft_limit" } else { "" };
    for chunk in opened.chunks(ROWS_PER_STATEMENT) {
        let mut insert: SqlStatement = sql(format!(
            "INSERT INTO {table} (account_id, owner, balance{limit}) VALUES "
        ));
        insert.push_tuples(chunk, |row, e| {
            row.push_bind(&e.account_id).push_bind(&e.owner).push("0");
            if with_limit {
                row.push_bind(e.overdraft_limit);
            }
        });
        db.execute(insert).await?;
    }
    Ok(())
}

/// Adds each account's net change to its balance in `table`: one `UPDATE` per run. Postgres and
/// SQLite join a `VALUES` list (whose columns both call `column1`, `column2`); MariaDB has no
/// `UPDATE ... FROM`, so there the change comes from a `CASE` (slower per row, same result).
async fn add_to_balances(db: &mut Sql, table: &str, changes: &[(&str, i64)]) -> Result<(), sqlx::Error> {
    for chunk in changes.chunks(ROWS_PER_STATEMENT) {
        let mut update: SqlStatement;
        if db.engine() == SqlEngine::MySql {
            update = sql(format!("UPDATE {table} SET balance = balance + CASE account_id"));
            for (account_id, change) in chunk {
                update
                    .push(" WHEN ")
                    .push_bind(*account_id)
                    .push(" THEN ")
                    .push_bind(*change);
            }
            update.push(" END WHERE account_id IN (");
            update.push_tuples(chunk, |row, (account_id, _)| {
                row.push_bind(*account_id);
            });
            update.push(")");
        } else {
            update = sql(format!(
                "UPDATE {table} SET balance = {table}.balance + c.column2 FROM (VALUES "
            ));
            update.push_tuples(chunk, |row, (account_id, change)| {
                row.push_bind(*account_id).push_bind(*change);
            });
            update.push(format!(") AS c WHERE {table}.account_id = c.column1").as_str());
        }
        db.execute(update).await?;
    }
    Ok(())
}
// ANCHOR_END: portable_statements

// ANCHOR: account_balances
/// One row per account with its owner and balance.
#[derive(Default)]
pub struct AccountBalances;

#[projection(name = "bank.account_balances", version = 1)]
impl AccountBalances {
    #[reset]
    async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
        // VARCHAR keys: MariaDB indexes no TEXT column without a length.
        db.execute(sql(
            "CREATE TABLE IF NOT EXISTS bank_account_balances (account_id VARCHAR(200) PRIMARY KEY,
                 owner TEXT NOT NULL, balance BIGINT NOT NULL, overdraft_limit BIGINT NOT NULL)",
        ))
        .await?;
        db.execute(sql("DELETE FROM bank_account_balances")).await?;
        Ok(())
    }

    // Batch handlers: each gets a run of consecutive events of its type, in order.
    #[on]
    async fn opened(&self, events: &[AccountOpened], db: &mut Sql) -> Result<(), sqlx::Error> {
        insert_accounts(db, "bank_account_balances", events, true).await
    }

    #[on]
    async fn deposited(&self, events: &[MoneyDeposited], db: &mut Sql) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
        add_to_balances(db, "bank_account_balances", &changes).await
    }

    #[on]
    async fn withdrawn(&self, events: &[MoneyWithdrawn], db: &mut Sql) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
        add_to_balances(db, "bank_account_balances", &changes).await
    }

    // A transfer moves money as a withdrawal and a deposit do; a refund pays the debit back.
    #[on]
    async fn transfer_debited(&self, events: &[TransferDebited], db: &mut Sql) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
        add_to_balances(db, "bank_account_balances", &changes).await
    }

    #[on]
    async fn transfer_credited(&self, events: &[TransferCredited], db: &mut Sql) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
        add_to_balances(db, "bank_account_balances", &changes).await
    }

    #[on]
    async fn transfer_refunded(&self, events: &[TransferRefunded], db: &mut Sql) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
        add_to_balances(db, "bank_account_balances", &changes).await
    }

    #[query]
    async fn balance(
        &self,
        query: &BalanceOf,
        db: &mut ReadOnly<'_, Sql>,
    ) -> Result<Option<AccountBalance>, sqlx::Error> {
        let row: Option<BalanceRow> = db
            .fetch_optional(
                sql_as(
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
// ANCHOR_END: account_balances

/// The accounts with the highest balances, kept as their own view so the ranking query is one
/// indexed scan.
#[derive(Default)]
pub struct TopAccounts;

#[projection(name = "bank.top_accounts", version = 1)]
impl TopAccounts {
    #[reset]
    async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
        db.execute(sql(
            "CREATE TABLE IF NOT EXISTS bank_top_accounts (account_id VARCHAR(200) PRIMARY KEY,
                 owner TEXT NOT NULL, balance BIGINT NOT NULL)",
        ))
        .await?;
        db.execute(sql(
            "CREATE INDEX IF NOT EXISTS bank_top_accounts_by_balance ON bank_top_accounts (balance DESC)",
        ))
        .await?;
        db.execute(sql("DELETE FROM bank_top_accounts")).await?;
        Ok(())
    }

    #[on]
    async fn opened(&self, events: &[AccountOpened], db: &mut Sql) -> Result<(), sqlx::Error> {
        insert_accounts(db, "bank_top_accounts", events, false).await
    }

    #[on]
    async fn deposited(&self, events: &[MoneyDeposited], db: &mut Sql) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
        add_to_balances(db, "bank_top_accounts", &changes).await
    }

    #[on]
    async fn withdrawn(&self, events: &[MoneyWithdrawn], db: &mut Sql) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
        add_to_balances(db, "bank_top_accounts", &changes).await
    }

    // A transfer moves money as a withdrawal and a deposit do; a refund pays the debit back.
    #[on]
    async fn transfer_debited(&self, events: &[TransferDebited], db: &mut Sql) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
        add_to_balances(db, "bank_top_accounts", &changes).await
    }

    #[on]
    async fn transfer_credited(&self, events: &[TransferCredited], db: &mut Sql) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
        add_to_balances(db, "bank_top_accounts", &changes).await
    }

    #[on]
    async fn transfer_refunded(&self, events: &[TransferRefunded], db: &mut Sql) -> Result<(), sqlx::Error> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
        add_to_balances(db, "bank_top_accounts", &changes).await
    }

    #[query]
    async fn top(
        &self,
        query: &Richest,
        db: &mut ReadOnly<'_, Sql>,
    ) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
        db.fetch_all(
            sql_as(
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
