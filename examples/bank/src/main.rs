//! The bank example: opens an account, deposits, withdraws, hits the overdraft rule and shows that
//! a re-submitted command is executed once.
//!
//! Runs on an embedded SQLite file (`chronicle-bank.db` in the current folder) with no setup, or
//! on Postgres when `DATABASE_URL` is set.

use std::error::Error;

use bank::{Account, Deposit, OpenAccount, Withdraw};
use chronicle::prelude::*;
use chronicle::CommandError;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let store = PostgresStore::connect(&url).await?;
            store.migrate().await?;
            println!("store: Postgres ({})", redact(&url));
            run(store).await
        }
        Err(_) => {
            let path = "chronicle-bank.db";
            let store = SqliteStore::open(path).await?;
            store.migrate().await?;
            println!("store: embedded SQLite file {path} (set DATABASE_URL to use Postgres)");
            run(store).await
        }
    }
}

async fn run<S: EventStore>(store: S) -> Result<(), Box<dyn Error>> {
    let bank = Chronicle::new(store);
    // A fresh account per run, so the example can be run again on the same store.
    let account_id = format!("acc-{}", &uuid_suffix());

    let receipt = bank
        .execute(OpenAccount {
            account_id: account_id.clone(),
            owner: "Ada".into(),
            overdraft_limit: 100,
        })
        .await?;
    println!(
        "opened {account_id}: stream {} at version {}",
        receipt.stream_id, receipt.stream_version
    );

    let receipt = bank
        .execute(Deposit {
            account_id: account_id.clone(),
            amount: 250,
        })
        .await?;
    println!(
        "deposited 250: version {}, global position {:?}",
        receipt.stream_version, receipt.position
    );

    let withdrawal = Withdraw {
        account_id: account_id.clone(),
        amount: 300,
    };
    let context = CommandContext::new().actor("teller-7").with("channel", "branch");
    let receipt = bank.execute_with(withdrawal.clone(), context.clone()).await?;
    println!(
        "withdrew 300 (into the overdraft): version {}",
        receipt.stream_version
    );

    match bank
        .execute(Withdraw {
            account_id: account_id.clone(),
            amount: 100,
        })
        .await
    {
        Err(CommandError::Rejected(reason)) => println!("withdrawing 100 more was refused: {reason}"),
        other => return Err(format!("the overdraft rule should have refused this, got {other:?}").into()),
    }

    // Re-submitting a command with the same command id appends nothing and returns its receipt.
    let command_id = uuid::Uuid::new_v4();
    let first = bank
        .execute_with(
            Deposit {
                account_id: account_id.clone(),
                amount: 40,
            },
            CommandContext::new().command_id(command_id),
        )
        .await?;
    let again = bank
        .execute_with(
            Deposit {
                account_id: account_id.clone(),
                amount: 40,
            },
            CommandContext::new().command_id(command_id),
        )
        .await?;
    println!(
        "deposit 40 submitted twice with command id {command_id}: versions {} and {} (executed once)",
        first.stream_version, again.stream_version
    );

    let account = bank.load::<Account>(&account_id).await?;
    println!(
        "balance of {account_id}: {} after {} events",
        account.state.balance(),
        account.version
    );
    Ok(())
}

fn uuid_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => url.to_owned(),
    }
}
