//! The process-managers chapter: the bank's transfer process tested with the given/when/then
//! harness (no database), and run by a process runner on the embedded SQLite store.

use std::time::Duration;

use bank::transfer::{
    RequestTransfer, Transfer, TransferDeadline, TransferProcess, TransferRequested, TransferState,
};
use bank::{
    BankError, CreditForTransfer, DebitForTransfer, Deposit, OpenAccount, RefundTransfer, TransferCredited,
    TransferDebited,
};
use chronicle::prelude::*;
use chronicle::testing::ProcessTest;
use chronicle::{SqliteReadStore, SqliteStore};
use chronicle_tests::support::TempFile;

fn requested(amount: i64, approval_window_secs: Option<u64>) -> TransferRequested {
    TransferRequested {
        transfer_id: "t1".into(),
        from: "alice".into(),
        to: "bob".into(),
        amount,
        approval_window_secs,
    }
}

fn debit(amount: i64) -> DebitForTransfer {
    DebitForTransfer {
        account_id: "alice".into(),
        transfer_id: "t1".into(),
        amount,
    }
}

fn credit(amount: i64) -> CreditForTransfer {
    CreditForTransfer {
        account_id: "bob".into(),
        transfer_id: "t1".into(),
        amount,
    }
}

// ANCHOR: harness
#[test]
fn a_refused_credit_is_compensated() -> Result<(), HandlerError> {
    let mut test = ProcessTest::<TransferProcess>::new();
    test.when(requested(70, None))?.then_sends([debit(70).into()]);
    test.when(TransferDebited {
        account_id: "alice".into(),
        transfer_id: "t1".into(),
        amount: 70,
    })?
    .then_sends([credit(70).into()]);

    // Bob's account is not open: the credit comes back rejected, typed.
    test.when_rejected(credit(70), BankError::NotOpen("bob".into()))
        .then_sends([
            RefundTransfer {
                account_id: "alice".into(),
                transfer_id: "t1".into(),
                amount: 70,
            }
            .into(),
            bank::transfer::FailTransfer {
                transfer_id: "t1".into(),
                reason: "account bob is not open".into(),
            }
            .into(),
        ])
        .then_finishes();

    // A finished process ignores what comes after.
    test.when(TransferCredited {
        account_id: "bob".into(),
        transfer_id: "t1".into(),
        amount: 70,
    })?
    .then_sends_nothing();
    Ok(())
}

#[test]
fn a_large_transfer_waits_for_its_approval_until_the_deadline() -> Result<(), HandlerError> {
    let mut test = ProcessTest::<TransferProcess>::new();
    test.when(requested(20_000, Some(900)))?
        .then_sends([debit(20_000).into()])
        .then_schedules([(Duration::from_secs(900), TransferDeadline::ApprovalExpired)]);
    test.when(TransferDebited {
        account_id: "alice".into(),
        transfer_id: "t1".into(),
        amount: 20_000,
    })?
    .then_sends_nothing();

    // Nothing is due yet after 14 minutes; at 15 the debit is paid back.
    test.advance(Duration::from_secs(14 * 60)).then_sends_nothing();
    let expired = test.advance(Duration::from_secs(60));
    expired.then_finishes();
    assert!(matches!(
        expired.commands(),
        [
            bank::transfer::TransferProcessCommand::RefundTransfer(_),
            bank::transfer::TransferProcessCommand::FailTransfer(_)
        ]
    ));
    assert!(
        test.pending("t1").is_empty(),
        "a finished process has no deadline left"
    );
    Ok(())
}
// ANCHOR_END: harness

// ANCHOR: run
#[tokio::test]
async fn a_transfer_runs_on_the_embedded_store() -> Result<(), Box<dyn std::error::Error>> {
    let file = TempFile::new("book-transfer");
    let store = SqliteStore::open(file.path()).await?;
    store.migrate().await?;
    // The runner's checkpoint and lease live in a read store, here beside the events.
    let checkpoints = SqliteReadStore::from_pool(store.pool().clone());
    checkpoints.migrate().await?;
    let bank = Chronicle::new(store);

    let transfers = process_runner::<TransferProcess, _, _>(bank.clone(), checkpoints).spawn();

    for (account, paid_in) in [("alice", 100), ("bob", 0)] {
        bank.execute(OpenAccount {
            account_id: account.into(),
            owner: account.into(),
            overdraft_limit: 0,
        })
        .await?;
        if paid_in > 0 {
            bank.execute(Deposit {
                account_id: account.into(),
                amount: paid_in,
            })
            .await?;
        }
    }
    bank.execute(RequestTransfer {
        transfer_id: "t1".into(),
        from: "alice".into(),
        to: "bob".into(),
        amount: 60,
        approval_window: Duration::from_secs(15 * 60),
    })
    .await?;

    // Eventually consistent: the process reacts to the log, as a projection does.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while bank.load::<Transfer>("t1").await?.state.state() != &TransferState::Completed {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the transfer did not complete"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bank.load::<bank::Account>("alice").await?.state.balance(), 40);
    assert_eq!(bank.load::<bank::Account>("bob").await?.state.balance(), 60);
    transfers.stop().await.into_result()?;
    Ok(())
}
// ANCHOR_END: run
