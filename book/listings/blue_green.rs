//! The book's blue/green rebuild (projections chapter): version 2 of a view built beside the
//! live version 1 while queries read version 1, then switched to, and version 1 dropped.

use std::time::Duration;

use bank::{Deposit, MoneyDeposited, OpenAccount};
use chronicle::prelude::*;
use chronicle::sqlx;
use chronicle::{BlueGreenHandle, Locations, SqliteReadStore, SqliteStore};

// ANCHOR: versions
/// Version 1 of a view of the bank's deposits: how many there were.
#[derive(Default)]
pub struct Deposits;

#[projection(name = "book.deposits", version = 1)]
impl Deposits {
    #[reset]
    async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
        reset_totals(db).await
    }

    #[on]
    async fn deposited(&self, _event: &MoneyDeposited, db: &mut Sql) -> Result<(), sqlx::Error> {
        add(db, 1).await
    }

    #[query]
    async fn total(&self, _query: &Total, db: &mut ReadOnly<'_, Sql>) -> Result<i64, sqlx::Error> {
        read_total(db).await
    }
}

/// Version 2: the same table, filled differently (the sum of the amounts). Its query reads
/// version 1's table unchanged, which it does until version 2 has caught up.
#[derive(Default)]
pub struct DepositsV2;

#[projection(name = "book.deposits", version = 2)]
impl DepositsV2 {
    #[reset]
    async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
        reset_totals(db).await
    }

    #[on]
    async fn deposited(&self, event: &MoneyDeposited, db: &mut Sql) -> Result<(), sqlx::Error> {
        add(db, event.amount).await
    }

    #[query]
    async fn total(&self, _query: &TotalV2, db: &mut ReadOnly<'_, Sql>) -> Result<i64, sqlx::Error> {
        read_total(db).await
    }
}
// ANCHOR_END: versions

async fn reset_totals(db: &mut Sql) -> Result<(), sqlx::Error> {
    db.execute(sql(
        "CREATE TABLE IF NOT EXISTS deposit_totals (id BIGINT PRIMARY KEY, total BIGINT NOT NULL)",
    ))
    .await?;
    db.execute(sql("DELETE FROM deposit_totals")).await?;
    db.execute(sql("INSERT INTO deposit_totals (id, total) VALUES (1, 0)"))
        .await
        .map(drop)
}

async fn add(db: &mut Sql, amount: i64) -> Result<(), sqlx::Error> {
    db.execute(sql("UPDATE deposit_totals SET total = total + $1 WHERE id = 1").bind(amount))
        .await
        .map(drop)
}

async fn read_total(db: &mut ReadOnly<'_, Sql>) -> Result<i64, sqlx::Error> {
    let (total,): (i64,) = db
        .fetch_one(sql_as("SELECT total FROM deposit_totals WHERE id = 1"))
        .await?;
    Ok(total)
}

/// Version 1's total.
#[derive(Query)]
#[query(output = i64, read_model = Deposits)]
pub struct Total;

/// Version 2's total.
#[derive(Query)]
#[query(output = i64, read_model = DepositsV2)]
pub struct TotalV2;

#[tokio::test]
async fn version_2_is_built_beside_version_1_and_takes_over() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("chronicle-book-bg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir(&dir)?;
    let events = SqliteStore::open(dir.join("events.db")).await?;
    events.migrate().await?;
    let reads = SqliteReadStore::open(dir.join("reads.db")).await?;
    reads.migrate().await?;
    let bank = Chronicle::new(events.clone());
    bank.execute(OpenAccount {
        account_id: "a".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    })
    .await?;
    for amount in [10, 20, 30] {
        bank.execute(Deposit {
            account_id: "a".into(),
            amount,
        })
        .await?;
    }

    let read_side = ReadSide::new(events.clone(), SqlReadStore::from(reads));
    // Bounded: a test that waits does so with a deadline.
    let v2 = tokio::time::timeout(Duration::from_secs(60), deploy(&read_side)).await??;
    v2.stop().await.into_result()?;
    read_side.store().drop_location(DepositsV2::NAME, 2).await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

// ANCHOR: deploy
async fn deploy(
    read_side: &ReadSide<SqliteStore, SqlReadStore>,
) -> Result<BlueGreenHandle<DepositsV2, SqliteStore>, Box<dyn std::error::Error>> {
    // The running deployment: version 1, live once it has caught up.
    let v1 = read_side.blue_green(Deposits).spawn();
    while v1.status().await?.live_version != Some(1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The next deployment: version 2 builds in a location of its own (here a file beside
    // `reads.db`) while every query reads version 1's whole read model.
    let v2 = read_side
        .blue_green(DepositsV2)
        .grace(Duration::from_secs(1))
        .spawn();
    loop {
        // Until the switch, version 2's queries read version 1: 3 deposits. After it, version
        // 2's read model, caught up: 60 in amounts. Never an empty or a half-built one.
        let total = read_side.query_live(&DepositsV2, &TotalV2).await?;
        assert!(total == 3 || total == 60, "{total}");
        if total == 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(v2.status().await?.live_version, Some(2));

    // Version 1's deployment retires: its location goes a grace period after its runner stopped.
    v1.stop().await.into_result()?;
    while v2
        .status()
        .await?
        .locations
        .iter()
        .any(|location| location.version == 1)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(v2)
}
// ANCHOR_END: deploy
