//! The book's portable view with an engine's own SQL (polyglot chapter): account holders, kept
//! by an upsert each engine spells its own way, run on SQLite, Postgres and MariaDB.

use bank::AccountOpened;
use chronicle::prelude::*;
use chronicle::sqlx;
use chronicle::testing::ProjectionTest;
use chronicle::SqlEngine;
use chronicle_tests::support;

// ANCHOR: own_sql
/// The latest holder's name for each account, on any SQL engine.
#[derive(Default)]
pub struct Holders;

#[projection(name = "bank.holders", version = 1)]
impl Holders {
    #[reset]
    async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
        db.execute(sql(
            "CREATE TABLE IF NOT EXISTS bank_holders (account_id VARCHAR(200) PRIMARY KEY, holder TEXT NOT NULL)",
        ))
        .await?;
        db.execute(sql("DELETE FROM bank_holders")).await.map(drop)
    }

    #[on]
    async fn opened(&self, event: &AccountOpened, db: &mut Sql) -> Result<(), sqlx::Error> {
        // An upsert is the one statement here each engine spells its own way.
        let upsert = match db.engine() {
            SqlEngine::MySql => {
                "INSERT INTO bank_holders (account_id, holder) VALUES ($1, $2)
                 ON DUPLICATE KEY UPDATE holder = VALUES(holder)"
            }
            _ => {
                "INSERT INTO bank_holders (account_id, holder) VALUES ($1, $2)
                 ON CONFLICT (account_id) DO UPDATE SET holder = excluded.holder"
            }
        };
        db.execute(sql(upsert).bind(&event.account_id).bind(&event.owner))
            .await
            .map(drop)
    }

    #[query]
    async fn holder(
        &self,
        query: &HolderOf,
        db: &mut ReadOnly<'_, Sql>,
    ) -> Result<Option<String>, sqlx::Error> {
        // The driver's own connection, in the same read-only transaction, where only one engine
        // has what a query needs (here Postgres's `COLLATE "C"`, say; elsewhere the portable one).
        let statement = match db.engine() {
            SqlEngine::Postgres => "SELECT holder COLLATE \"C\" FROM bank_holders WHERE account_id = $1",
            _ => "SELECT holder FROM bank_holders WHERE account_id = $1",
        };
        let row: Option<(String,)> = db.fetch_optional(sql_as(statement).bind(&query.0)).await?;
        Ok(row.map(|(holder,)| holder))
    }
}

/// Who holds an account, if it exists.
#[derive(Query)]
#[query(output = Option<String>, read_model = Holders)]
pub struct HolderOf(pub String);
// ANCHOR_END: own_sql

/// The same given/then on each engine: the second opening of an account replaces its holder.
async fn holders_on(store: SqlReadStore) -> Option<String> {
    let mut test = ProjectionTest::new(store, Holders).await.expect("reset");
    for owner in ["Ada", "Ada Lovelace"] {
        test.given(
            "bank.Account-h",
            AccountOpened {
                account_id: "h".into(),
                owner: owner.into(),
                overdraft_limit: 0,
            },
        )
        .await
        .expect("opened");
    }
    test.answer(&HolderOf("h".into())).await.expect("answer")
}

#[tokio::test]
async fn the_holders_view_upserts_on_every_engine() {
    let sqlite = SqlReadStore::temporary().await.expect("a temporary store");
    assert_eq!(holders_on(sqlite).await.as_deref(), Some("Ada Lovelace"));
    let postgres = support::postgres_read_store_elsewhere().await;
    assert_eq!(holders_on(postgres.into()).await.as_deref(), Some("Ada Lovelace"));
    let mariadb = support::mysql_read_store().await;
    assert_eq!(
        holders_on(mariadb.clone().into()).await.as_deref(),
        Some("Ada Lovelace")
    );
    support::drop_mysql_database(&mariadb).await;
}
