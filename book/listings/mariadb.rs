//! The book's MariaDB view (levels chapter): owners by name, in a read store of their own.

// ANCHOR: mariadb
use std::time::Duration;

use bank::{AccountOpened, OpenAccount};
use chronicle::prelude::*;
use chronicle::sqlx::{self, MySqlConnection};

/// One row per account holder, in MariaDB.
#[derive(Default)]
pub struct Owners;

#[projection(name = "bank.owners", version = 1)]
impl Owners {
    /// DDL commits on MariaDB, so this runs outside the runner's transaction: keep it safe to
    /// run again.
    #[reset]
    async fn reset(&self, db: &mut MySqlConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bank_owners (account_id VARCHAR(200) PRIMARY KEY, owner TEXT NOT NULL)",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM bank_owners").execute(&mut *db).await?;
        Ok(())
    }

    #[on]
    async fn opened(&self, event: &AccountOpened, db: &mut MySqlConnection) -> Result<(), sqlx::Error> {
        // MySQL's placeholders are `?`.
        sqlx::query("INSERT INTO bank_owners (account_id, owner) VALUES (?, ?)")
            .bind(&event.account_id)
            .bind(&event.owner)
            .execute(&mut *db)
            .await
            .map(drop)
    }

    #[query]
    async fn owner(
        &self,
        query: &OwnerOf,
        db: &mut ReadOnly<'_, MySqlConnection>,
    ) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> = db
            .fetch_optional(
                sqlx::query_as("SELECT owner FROM bank_owners WHERE account_id = ?").bind(&query.account_id),
            )
            .await?;
        Ok(row.map(|(owner,)| owner))
    }
}

/// Who holds an account, if it exists.
#[derive(Query)]
#[query(output = Option<String>, read_model = Owners)]
pub struct OwnerOf {
    pub account_id: String,
}

/// Opens an account on `store` and reads its owner back from `owners` (say
/// `MySqlReadStore::connect("mysql://root@127.0.0.1:3306/reports").await?`, migrated).
pub async fn owner_in_mariadb(
    store: PostgresStore,
    owners: MySqlReadStore,
) -> Result<Option<String>, Box<dyn std::error::Error>> {
    let read_side = ReadSide::new(store.clone(), owners);
    let runner = read_side.runner(Owners).spawn();
    let receipt = Chronicle::new(store)
        .execute(OpenAccount {
            account_id: "m-1".into(),
            owner: "Grace".into(),
            overdraft_limit: 0,
        })
        .await?;
    let query = OwnerOf {
        account_id: "m-1".into(),
    };
    let owner = read_side
        .query_consistent(&Owners, &query, &receipt, Duration::from_secs(10))
        .await?;
    runner.stop().await.into_result()?;
    Ok(owner)
}
// ANCHOR_END: mariadb

#[tokio::test]
async fn the_owner_is_read_back_from_mariadb() {
    let store = chronicle_tests::support::postgres_store().await;
    let owners = chronicle_tests::support::mysql_read_store().await;
    let owner = owner_in_mariadb(store, owners.clone()).await.unwrap();
    chronicle_tests::support::drop_mysql_database(&owners).await;
    assert_eq!(owner.as_deref(), Some("Grace"));
}
