//! The bank's read side: an account-balance view and a "top accounts" view, kept in the same
//! database as the events (level 1): Postgres tables beside `chronicle_events`, or tables in the
//! embedded SQLite file.
//!
//! The views are written with batch handlers: each takes a run of events as a slice and writes
//! it with one statement (a run of deposits becomes one `UPDATE` of the accounts involved), so a
//! rebuild or a catch-up costs a statement per run instead of one per event. Each view is written
//! once and declared for both connection types by `bank_views!`; the two statements whose SQL
//! differs between the engines are behind `BatchWrites`. An application on one engine writes
//! its views plainly.

use std::collections::BTreeMap;

use chronicle::sqlx::{self, PgConnection, SqliteConnection};

use crate::AccountOpened;

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

/// The net change of each account over a run of deposits or withdrawals, one entry per account
/// however many events it had.
pub fn net_changes<'e>(changes: impl IntoIterator<Item = (&'e str, i64)>) -> Vec<(&'e str, i64)> {
    let mut net: BTreeMap<&str, i64> = BTreeMap::new();
    for (account_id, change) in changes {
        *net.entry(account_id).or_default() += change;
    }
    net.into_iter().collect()
}

/// The batch statements of the views, for each engine. Postgres takes arrays; SQLite has none, so
/// a batch travels there as one JSON array.
pub(crate) trait BatchWrites {
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

impl BatchWrites for SqliteConnection {
    async fn insert_accounts(
        &mut self,
        table: &str,
        opened: &[AccountOpened],
        with_limit: bool,
    ) -> Result<(), sqlx::Error> {
        let rows: Vec<(&str, &str, i64)> = opened
            .iter()
            .map(|e| (e.account_id.as_str(), e.owner.as_str(), e.overdraft_limit))
            .collect();
        let limit = if with_limit {
            ", json_extract(value, '$[2]')"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO {table} SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), 0{limit} \
             FROM json_each($1)"
        );
        sqlx::query(&sql).bind(json(&rows)?).execute(self).await.map(drop)
    }

    async fn add_to_balances(&mut self, table: &str, changes: &[(&str, i64)]) -> Result<(), sqlx::Error> {
        let sql = format!(
            "UPDATE {table} SET balance = balance + c.delta \
             FROM (SELECT json_extract(value, '$[0]') AS account_id, json_extract(value, '$[1]') AS delta \
                   FROM json_each($1)) AS c \
             WHERE {table}.account_id = c.account_id"
        );
        sqlx::query(&sql)
            .bind(json(&changes)?)
            .execute(self)
            .await
            .map(drop)
    }
}

fn json(rows: &impl serde::Serialize) -> Result<String, sqlx::Error> {
    serde_json::to_string(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

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

macro_rules! bank_views {
    ($connection:ty) => {
        use chronicle::prelude::*;
        use chronicle::sqlx;
        use chronicle::ReadOnly;

        use $crate::views::{net_changes, AccountBalance, BalanceRow, BatchWrites};
        use $crate::{AccountOpened, MoneyDeposited, MoneyWithdrawn};

        /// One row per account with its owner and balance.
        #[derive(Default)]
        pub struct AccountBalances;

        #[projection(name = "bank.account_balances", version = 1)]
        impl AccountBalances {
            #[reset]
            async fn reset(&self, db: &mut $connection) -> Result<(), sqlx::Error> {
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
            async fn opened(
                &self,
                events: &[AccountOpened],
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                db.insert_accounts("bank_account_balances", events, true)
                    .await
            }

            #[on]
            async fn deposited(
                &self,
                events: &[MoneyDeposited],
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
                db.add_to_balances("bank_account_balances", &changes).await
            }

            #[on]
            async fn withdrawn(
                &self,
                events: &[MoneyWithdrawn],
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
                db.add_to_balances("bank_account_balances", &changes).await
            }

            #[query]
            async fn balance(
                &self,
                query: &BalanceOf,
                db: &mut ReadOnly<'_, $connection>,
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
            async fn reset(&self, db: &mut $connection) -> Result<(), sqlx::Error> {
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
            async fn opened(
                &self,
                events: &[AccountOpened],
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                db.insert_accounts("bank_top_accounts", events, false).await
            }

            #[on]
            async fn deposited(
                &self,
                events: &[MoneyDeposited],
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
                db.add_to_balances("bank_top_accounts", &changes).await
            }

            #[on]
            async fn withdrawn(
                &self,
                events: &[MoneyWithdrawn],
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
                db.add_to_balances("bank_top_accounts", &changes).await
            }

            #[query]
            async fn top(
                &self,
                query: &Richest,
                db: &mut ReadOnly<'_, $connection>,
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
    };
}

/// The views on Postgres, in the event store's database.
pub mod postgres {
    bank_views!(chronicle::sqlx::PgConnection);
}

/// The views in the embedded SQLite file.
pub mod sqlite {
    bank_views!(chronicle::sqlx::SqliteConnection);
}
