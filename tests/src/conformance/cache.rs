//! The in-process cache of aggregate state: hot aggregates are not replayed per command, and a
//! stale entry costs a re-read, never a wrong decision.

use bank::{BankError, Deposit, OpenAccount, Withdraw};
use chronicle::prelude::*;
use uuid::Uuid;

use crate::spy::Spy;

fn open_with_limit(id: &str, limit: i64) -> OpenAccount {
    OpenAccount {
        account_id: id.into(),
        owner: "Ada".into(),
        overdraft_limit: limit,
    }
}

pub async fn a_hot_aggregate_is_read_once_then_served_from_memory<S: EventStore>(store: S) {
    let store = Spy::new(store);
    let bank = Chronicle::new(store.clone());
    bank.execute(open_with_limit("c-1", 0)).await.unwrap();
    for _ in 0..10 {
        bank.execute(Deposit {
            account_id: "c-1".into(),
            amount: 1,
        })
        .await
        .unwrap();
    }
    assert_eq!(
        store.stream_reads(),
        0,
        "the opening creates the stream without reading it, and the deposits find it in memory"
    );

    let uncached = Chronicle::new(store.clone()).with_cache_capacity(0);
    store.reset_stream_reads();
    for _ in 0..3 {
        uncached
            .execute(Deposit {
                account_id: "c-1".into(),
                amount: 1,
            })
            .await
            .unwrap();
    }
    assert_eq!(store.stream_reads(), 3, "without a cache every command replays");
}

pub async fn a_stale_entry_is_caught_by_the_append_and_decided_again<S: EventStore>(store: S) {
    let here = Chronicle::new(store.clone());
    let elsewhere = Chronicle::new(store.clone());
    here.execute(open_with_limit("c-2", 0)).await.unwrap();
    here.execute(Deposit {
        account_id: "c-2".into(),
        amount: 100,
    })
    .await
    .unwrap();
    // Another process empties the account; this one still remembers a balance of 100.
    elsewhere
        .execute(Withdraw {
            account_id: "c-2".into(),
            amount: 100,
        })
        .await
        .unwrap();

    let error = here
        .execute(Withdraw {
            account_id: "c-2".into(),
            amount: 50,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            CommandError::Rejected(BankError::Overdraft { balance: 0, .. })
        ),
        "the decision must be made on the current balance: {error:?}"
    );
    assert_eq!(store.read_stream("bank.Account-c-2", 0).await.unwrap().len(), 3);
}

pub async fn a_rejection_on_a_stale_entry_is_checked_before_it_is_returned<S: EventStore>(store: S) {
    let here = Chronicle::new(store.clone());
    let elsewhere = Chronicle::new(store.clone());
    here.execute(open_with_limit("c-3", 0)).await.unwrap();
    // This process remembers a balance of 0; another one deposits 100.
    elsewhere
        .execute(Deposit {
            account_id: "c-3".into(),
            amount: 100,
        })
        .await
        .unwrap();

    let receipt = here
        .execute(Withdraw {
            account_id: "c-3".into(),
            amount: 50,
        })
        .await
        .unwrap();
    assert_eq!(receipt.stream_version, 3);
}

pub async fn a_creating_command_reads_no_stream_for_a_new_aggregate<S: EventStore>(store: S) {
    let store = Spy::new(store);
    let bank = Chronicle::new(store.clone());
    let receipt = bank.execute(open_with_limit("n-1", 0)).await.unwrap();
    assert_eq!(receipt.stream_version, 1);
    bank.execute(Deposit {
        account_id: "n-1".into(),
        amount: 5,
    })
    .await
    .unwrap();
    assert_eq!(
        store.stream_reads(),
        0,
        "neither the opening nor the cached deposit read"
    );
    assert_eq!(bank.load::<bank::Account>("n-1").await.unwrap().version, 2);
}

pub async fn a_creating_command_on_an_existing_aggregate_is_decided_on_its_real_state<S: EventStore>(
    store: S,
) {
    let store = Spy::new(store);
    let first = Chronicle::new(store.clone());
    let context = CommandContext::new().command_id(Uuid::new_v4());
    let original = first
        .execute_with(open_with_limit("n-2", 10), context.clone())
        .await
        .unwrap();

    // Another process, whose cache knows nothing of the account, opens it again.
    let other = Chronicle::new(store.clone());
    let again = other.execute(open_with_limit("n-2", 99)).await;
    assert!(
        matches!(again, Err(CommandError::Rejected(BankError::AlreadyOpen(ref id))) if id == "n-2"),
        "{again:?}"
    );
    assert!(store.stream_reads() >= 1, "the conflict made it read the stream");

    // The same command re-submitted is executed once: the original receipt comes back.
    let resubmitted = Chronicle::new(store.clone())
        .execute_with(open_with_limit("n-2", 10), context)
        .await
        .unwrap();
    assert_eq!(resubmitted, original);

    let loaded = first.load::<bank::Account>("n-2").await.unwrap();
    assert_eq!(loaded.version, 1, "nothing was appended after the opening");
}
