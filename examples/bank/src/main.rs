//! The bank example: opens an account, deposits, withdraws, hits the overdraft rule, shows that a
//! re-submitted command is executed once, prints the account's history with its metadata and its
//! balance as of an earlier time, then transfers money to a second account through the transfer
//! process manager (one transfer completes, one is refused by the overdraft rule).
//!
//! Runs on an embedded SQLite file (`chronicle-bank.db` in the current folder) with no setup, or
//! on Postgres when `DATABASE_URL` is set. Its two views (account balances, top accounts) live in
//! the same database as the events, and are written once for both engines.

use std::error::Error;
use std::time::Duration;

use bank::transfer::{RequestTransfer, Transfer, TransferProcess, TransferState};
use bank::views::{AccountBalances, BalanceOf, Richest, TopAccounts};
use bank::{Account, Deposit, OpenAccount, Withdraw};
use chronicle::prelude::*;
use chronicle::{CommandError, PostgresReadStore, ReadSide, SqliteReadStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let (store, views) = postgres(&url).await?;
            println!("store: Postgres ({}), views in the same database", redact(&url));
            run_with_views(store, views).await
        }
        Err(_) => {
            let path = "chronicle-bank.db";
            let store = SqliteStore::open(path).await?;
            store.migrate().await?;
            let views = SqlReadStore::from(SqliteReadStore::from_pool(store.pool().clone()));
            views.migrate().await?;
            println!("store: embedded SQLite file {path}, views in the same file (set DATABASE_URL to use Postgres)");
            run_with_views(store, views).await
        }
    }
}

/// Starts both views' runners, runs the commands, then reads the views: once consistent with the
/// last command, once as they are. The views are the same code on either engine.
async fn run_with_views<S>(store: S, views: SqlReadStore) -> Result<(), Box<dyn Error>>
where
    S: EventStore + EventSource + Clone,
{
    let read_side = ReadSide::new(store.clone(), views);
    let balances = read_side.runner(AccountBalances).spawn();
    let top = read_side.runner(TopAccounts).spawn();
    let (account_id, receipt) = run(store.clone()).await?;

    let query = BalanceOf {
        account_id: account_id.clone(),
    };
    let wait = Duration::from_secs(5);
    let balance = read_side
        .query_consistent(&AccountBalances, &query, &receipt, wait)
        .await?;
    println!("balance view, consistent with the last command: {balance:?}");

    // The transfers' events are appended by the process manager, not by a command of ours: the
    // views are waited for up to the last event of the paying account.
    let position = transfers(store, read_side.store().clone(), &account_id).await?;
    read_side
        .wait_for::<AccountBalances>(Some(position), wait)
        .await?;
    let balance = read_side.query(&AccountBalances, &query).await?;
    println!("balance view after the transfers: {balance:?}");
    read_side.wait_for::<TopAccounts>(Some(position), wait).await?;
    let richest = read_side.query(&TopAccounts, &Richest { limit: 3 }).await?;
    println!("top accounts: {richest:?}");
    let status = balances.status().await?;
    println!("balance view lag: {} events, {:?}", status.lag_events, status.lag);
    balances.stop().await.into_result()?;
    top.stop().await.into_result()?;
    Ok(())
}

// ANCHOR: level1
/// The event store and the views' read store, both in the Postgres database at `url`: level 1.
async fn postgres(url: &str) -> Result<(PostgresStore, SqlReadStore), Box<dyn std::error::Error>> {
    let store = PostgresStore::connect(url).await?;
    // chronicle_events, chronicle_snapshots, chronicle_inline_projections
    store.migrate().await?;
    // The views' tables go beside chronicle_events: the same pool and schema.
    let views = SqlReadStore::from(PostgresReadStore::beside(&store));
    views.migrate().await?; // chronicle_checkpoints and chronicle_dead_letters
    Ok((store, views))
}
// ANCHOR_END: level1

/// The write side of the demo; returns the account and the last command's receipt.
async fn run<S: EventStore>(store: S) -> Result<(String, Receipt), Box<dyn Error>> {
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
    // Who asked and in answer to what: kept with every event of the command (see the history below).
    let context = CommandContext::new()
        .actor("teller-7")
        .correlation_id(uuid::Uuid::new_v4())
        .with("channel", "branch");
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
        "aggregate state of {account_id}: balance {} after {} events",
        account.state.balance(),
        account.version
    );

    // The audit log: every event of the account, in order, with who asked, when, and why.
    let history = bank.history::<Account>(&account_id).await?;
    print_history(&account_id, &history);

    // Time travel: the account as it was when the 250 deposit was recorded, and one version on.
    let deposited_at = history[1].recorded_at;
    let then = bank.load_as_of::<Account>(&account_id, deposited_at).await?;
    println!(
        "balance of {account_id} as of {deposited_at}: {} (after {} events); now: {}",
        then.state.balance(),
        then.version,
        account.state.balance()
    );
    let after_withdrawal = bank.load_at_version::<Account>(&account_id, 3).await?;
    println!(
        "balance of {account_id} at version 3: {}",
        after_withdrawal.state.balance()
    );
    Ok((account_id, again))
}

/// Two transfers from `from` to a new account, run by the transfer process manager: one within
/// the overdraft limit, which completes, and one beyond it, which fails without moving money.
/// Returns the position of the paying account's last event.
async fn transfers<S>(store: S, checkpoints: SqlReadStore, from: &str) -> Result<u64, Box<dyn Error>>
where
    S: EventStore + EventSource + Clone,
{
    let bank = Chronicle::new(store);
    let process = process_runner::<TransferProcess, _, _>(bank.clone(), checkpoints).spawn();
    let to = format!("acc-{}", uuid_suffix());
    bank.execute(OpenAccount {
        account_id: to.clone(),
        owner: "Grace".into(),
        overdraft_limit: 0,
    })
    .await?;
    for amount in [50, 500] {
        let transfer_id = format!("tr-{}", uuid_suffix());
        bank.execute(RequestTransfer {
            transfer_id: transfer_id.clone(),
            from: from.to_owned(),
            to: to.clone(),
            amount,
            approval_window: Duration::from_secs(15 * 60),
        })
        .await?;
        let state = transfer_end(&bank, &transfer_id).await?;
        println!(
            "transfer {transfer_id} of {amount} from {from} to {to}: {state:?}; balances {} and {}",
            bank.load::<Account>(from).await?.state.balance(),
            bank.load::<Account>(&to).await?.state.balance()
        );
    }
    process.stop().await.into_result()?;
    let paying = bank
        .store()
        .read_stream(&chronicle::stream_id::<Account>(from), 0)
        .await?;
    Ok(paying.last().map_or(0, |event| event.position))
}

/// Waits for the transfer process to finish the transfer: the process is eventually consistent.
async fn transfer_end<S: EventStore>(
    bank: &Chronicle<S>,
    transfer_id: &str,
) -> Result<TransferState, Box<dyn Error>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = bank.load::<Transfer>(transfer_id).await?.state.state().clone();
        if matches!(state, TransferState::Completed | TransferState::Failed) {
            return Ok(state);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("transfer {transfer_id} did not end within 10 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ANCHOR: history
use bank::AccountEvent;
use chronicle::Envelope;

/// Prints an account's history: each event with its metadata.
fn print_history(account_id: &str, history: &[Envelope<AccountEvent>]) {
    // The first 8 hex digits of an id, enough to tell ids apart on screen.
    let short = |id: uuid::Uuid| id.simple().to_string()[..8].to_owned();
    println!("history of {account_id}:");
    for entry in history {
        let metadata = &entry.metadata;
        println!(
            "  v{} {} recorded {}",
            entry.stream_version,
            entry.event_type,
            entry
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        );
        println!(
            "     actor {}, command {}, correlation {}, causation {}, extra {}",
            metadata.actor.as_deref().unwrap_or("-"),
            short(metadata.command_id),
            short(metadata.correlation_id),
            short(metadata.causation_id),
            serde_json::Value::Object(metadata.extra.clone()),
        );
    }
}
// ANCHOR_END: history

fn uuid_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => url.to_owned(),
    }
}
