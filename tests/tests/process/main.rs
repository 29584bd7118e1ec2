//! Process managers against real stores: the bank's transfer process run by a process runner on
//! SQLite and Postgres (`transfer.rs`: completion, the overdraft rule, compensation, approvals
//! and their deadline, the deadline surviving a restart, the ids that flow), and its runner
//! crashed at every step of a set of transfers (`crash.rs`).

mod crash;
mod transfer;

use std::time::Duration;

use bank::transfer::{RequestTransfer, Transfer, TransferState};
use bank::{Account, Deposit, OpenAccount};
use chronicle::{Chronicle, EventSource, EventStore, Receipt, RetryPolicy};
use chronicle_tests::wait::{eventually, DEADLINE};

/// How long a test waits for a transfer to end.
pub const END: Duration = DEADLINE;

/// Opens `account` with `balance` paid in and an overdraft `limit`.
pub async fn open<S: EventStore>(chronicle: &Chronicle<S>, account: &str, balance: i64, limit: i64) {
    chronicle
        .execute(OpenAccount {
            account_id: account.to_owned(),
            owner: "test".to_owned(),
            overdraft_limit: limit,
        })
        .await
        .expect("open the account");
    if balance > 0 {
        chronicle
            .execute(Deposit {
                account_id: account.to_owned(),
                amount: balance,
            })
            .await
            .expect("pay in");
    }
}

/// Asks for a transfer; large ones wait `window` for their approval.
pub async fn request<S: EventStore>(
    chronicle: &Chronicle<S>,
    transfer: &str,
    (from, to): (&str, &str),
    amount: i64,
    window: Duration,
) -> Receipt {
    chronicle
        .execute(RequestTransfer {
            transfer_id: transfer.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            amount,
            approval_window: window,
        })
        .await
        .expect("request the transfer")
}

/// How the transfer ended, once it has.
pub async fn ended<S: EventStore>(chronicle: &Chronicle<S>, transfer: &str) -> TransferState {
    eventually(&format!("transfer {transfer} to end"), END, || async {
        let state = chronicle
            .load::<Transfer>(transfer)
            .await
            .expect("load the transfer")
            .state
            .state()
            .clone();
        matches!(state, TransferState::Completed | TransferState::Failed).then_some(state)
    })
    .await
}

/// The account's balance now.
pub async fn balance<S: EventStore>(chronicle: &Chronicle<S>, account: &str) -> i64 {
    chronicle
        .load::<Account>(account)
        .await
        .expect("load the account")
        .state
        .balance()
}

/// A runner's settings for tests: quick polls and retries.
pub fn quick<P: chronicle::Projection, S: EventSource>(
    runner: chronicle::ProjectionRunner<P, S>,
) -> chronicle::ProjectionRunner<P, S> {
    runner
        .poll_interval(Duration::from_millis(50))
        .retry(RetryPolicy::new(3, Duration::from_millis(5)))
        .lease(Duration::from_millis(600))
}

/// The stored types of `account`'s events, in order.
pub async fn account_events<S: EventStore>(chronicle: &Chronicle<S>, account: &str) -> Vec<String> {
    chronicle
        .store()
        .read_stream(&format!("bank.Account-{account}"), 0)
        .await
        .expect("read the account's stream")
        .into_iter()
        .map(|event| event.event_type)
        .collect()
}
