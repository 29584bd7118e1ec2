//! The bank's read side: an account-balance view and a "top accounts" view, kept in the same
//! database as the events (level 1): Postgres tables beside `chronicle_events`, or tables in the
//! embedded SQLite file.
//!
//! The SQL is portable between the two engines, so each view is written once and declared for
//! both connection types by `bank_views!`; an application on one engine writes it plainly.

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

macro_rules! bank_views {
    ($connection:ty) => {
        use chronicle::prelude::*;
        use chronicle::sqlx;
        use chronicle::ReadOnly;

        use $crate::views::{AccountBalance, BalanceRow};
        use $crate::{AccountOpened, MoneyDeposited, MoneyWithdrawn};

        // ANCHOR: balances
        /// One row per account with its owner and balance.
        #[derive(Default)]
        pub struct AccountBalances;

        #[projection(name = "bank.account_balances", version = 1)]
        impl AccountBalances {
            #[reset]
            async fn reset(&self, db: &mut $connection) -> Result<(), sqlx::Error> {
                sqlx::query("DROP TABLE IF EXISTS bank_account_balances")
                    .execute(&mut *db)
                    .await?;
                sqlx::query(
                    "CREATE TABLE bank_account_balances (account_id TEXT PRIMARY KEY, owner TEXT NOT NULL,
                         balance BIGINT NOT NULL, overdraft_limit BIGINT NOT NULL)",
                )
                .execute(&mut *db)
                .await?;
                Ok(())
            }

            #[on]
            async fn opened(&self, event: &AccountOpened, db: &mut $connection) -> Result<(), sqlx::Error> {
                sqlx::query("INSERT INTO bank_account_balances VALUES ($1, $2, 0, $3)")
                    .bind(&event.account_id)
                    .bind(&event.owner)
                    .bind(event.overdraft_limit)
                    .execute(&mut *db)
                    .await?;
                Ok(())
            }

            #[on]
            async fn deposited(
                &self,
                event: &MoneyDeposited,
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE bank_account_balances SET balance = balance + $2 WHERE account_id = $1")
                    .bind(&event.account_id)
                    .bind(event.amount)
                    .execute(&mut *db)
                    .await?;
                Ok(())
            }

            #[on]
            async fn withdrawn(
                &self,
                event: &MoneyWithdrawn,
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE bank_account_balances SET balance = balance - $2 WHERE account_id = $1")
                    .bind(&event.account_id)
                    .bind(event.amount)
                    .execute(&mut *db)
                    .await?;
                Ok(())
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
        // ANCHOR_END: balances

        /// The accounts with the highest balances, kept as their own view so the ranking query
        /// is one indexed scan.
        #[derive(Default)]
        pub struct TopAccounts;

        #[projection(name = "bank.top_accounts", version = 1)]
        impl TopAccounts {
            #[reset]
            async fn reset(&self, db: &mut $connection) -> Result<(), sqlx::Error> {
                sqlx::query("DROP TABLE IF EXISTS bank_top_accounts")
                    .execute(&mut *db)
                    .await?;
                sqlx::query(
                    "CREATE TABLE bank_top_accounts (account_id TEXT PRIMARY KEY, owner TEXT NOT NULL,
                         balance BIGINT NOT NULL)",
                )
                .execute(&mut *db)
                .await?;
                sqlx::query("CREATE INDEX bank_top_accounts_by_balance ON bank_top_accounts (balance DESC)")
                    .execute(&mut *db)
                    .await?;
                Ok(())
            }

            #[on]
            async fn opened(&self, event: &AccountOpened, db: &mut $connection) -> Result<(), sqlx::Error> {
                sqlx::query("INSERT INTO bank_top_accounts VALUES ($1, $2, 0)")
                    .bind(&event.account_id)
                    .bind(&event.owner)
                    .execute(&mut *db)
                    .await?;
                Ok(())
            }

            #[on]
            async fn deposited(
                &self,
                event: &MoneyDeposited,
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE bank_top_accounts SET balance = balance + $2 WHERE account_id = $1")
                    .bind(&event.account_id)
                    .bind(event.amount)
                    .execute(&mut *db)
                    .await?;
                Ok(())
            }

            #[on]
            async fn withdrawn(
                &self,
                event: &MoneyWithdrawn,
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE bank_top_accounts SET balance = balance - $2 WHERE account_id = $1")
                    .bind(&event.account_id)
                    .bind(event.amount)
                    .execute(&mut *db)
                    .await?;
                Ok(())
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
