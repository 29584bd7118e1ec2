//! The in-process cache of aggregate state: hot aggregates are not replayed per command, and a
//! stale entry costs a re-read, never a wrong decision.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bank::{BankError, Deposit, OpenAccount, Withdraw};
use chronicle::prelude::*;
use chronicle::{NewEvent, RecordedEvent, StoreError};
use chronicle_tests::support;
use uuid::Uuid;

/// Counts stream reads, to see what the cache spares.
#[derive(Clone)]
struct Counting<S> {
    inner: S,
    reads: Arc<AtomicUsize>,
}

impl<S: EventStore> EventStore for Counting<S> {
    async fn append_checked(
        &self,
        stream_id: &str,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        self.inner.append_checked(stream_id, expected, events).await
    }
    async fn read_stream(&self, stream_id: &str, after: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_stream(stream_id, after).await
    }
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }
    async fn find_command(&self, command_id: Uuid) -> Result<Option<Receipt>, StoreError> {
        self.inner.find_command(command_id).await
    }
}

fn open(id: &str, limit: i64) -> OpenAccount {
    OpenAccount {
        account_id: id.into(),
        owner: "Ada".into(),
        overdraft_limit: limit,
    }
}

#[tokio::test]
async fn a_hot_aggregate_is_read_once_then_served_from_memory() {
    let reads = Arc::new(AtomicUsize::new(0));
    let store = Counting {
        inner: support::postgres_store().await,
        reads: reads.clone(),
    };
    let bank = Chronicle::new(store.clone());
    bank.execute(open("c-1", 0)).await.unwrap();
    for _ in 0..10 {
        bank.execute(Deposit {
            account_id: "c-1".into(),
            amount: 1,
        })
        .await
        .unwrap();
    }
    assert_eq!(
        reads.load(Ordering::SeqCst),
        0,
        "the opening creates the stream without reading it, and the deposits find it in memory"
    );

    let uncached = Chronicle::new(store).with_cache_capacity(0);
    reads.store(0, Ordering::SeqCst);
    for _ in 0..3 {
        uncached
            .execute(Deposit {
                account_id: "c-1".into(),
                amount: 1,
            })
            .await
            .unwrap();
    }
    assert_eq!(
        reads.load(Ordering::SeqCst),
        3,
        "without a cache every command replays"
    );
}

#[tokio::test]
async fn a_stale_entry_is_caught_by_the_append_and_decided_again() {
    let store = support::postgres_store().await;
    let here = Chronicle::new(store.clone());
    let elsewhere = Chronicle::new(store.clone());
    here.execute(open("c-2", 0)).await.unwrap();
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

#[tokio::test]
async fn a_rejection_on_a_stale_entry_is_checked_before_it_is_returned() {
    let store = support::postgres_store().await;
    let here = Chronicle::new(store.clone());
    let elsewhere = Chronicle::new(store.clone());
    here.execute(open("c-3", 0)).await.unwrap();
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

#[tokio::test]
async fn a_creating_command_reads_no_stream_for_a_new_aggregate() {
    let reads = Arc::new(AtomicUsize::new(0));
    let store = Counting {
        inner: support::postgres_store().await,
        reads: reads.clone(),
    };
    let bank = Chronicle::new(store.clone());
    let receipt = bank.execute(open("n-1", 0)).await.unwrap();
    assert_eq!(receipt.stream_version, 1);
    bank.execute(Deposit {
        account_id: "n-1".into(),
        amount: 5,
    })
    .await
    .unwrap();
    assert_eq!(
        reads.load(Ordering::SeqCst),
        0,
        "neither the opening nor the cached deposit read"
    );
    assert_eq!(bank.load::<bank::Account>("n-1").await.unwrap().version, 2);
}

#[tokio::test]
async fn a_creating_command_on_an_existing_aggregate_is_decided_on_its_real_state() {
    let reads = Arc::new(AtomicUsize::new(0));
    let store = Counting {
        inner: support::postgres_store().await,
        reads: reads.clone(),
    };
    let first = Chronicle::new(store.clone());
    let context = CommandContext::new().command_id(Uuid::new_v4());
    let original = first
        .execute_with(open("n-2", 10), context.clone())
        .await
        .unwrap();

    // Another process, whose cache knows nothing of the account, opens it again.
    let other = Chronicle::new(store.clone());
    let again = other.execute(open("n-2", 99)).await;
    assert!(
        matches!(again, Err(CommandError::Rejected(BankError::AlreadyOpen(ref id))) if id == "n-2"),
        "{again:?}"
    );
    assert!(
        reads.load(Ordering::SeqCst) >= 1,
        "the conflict made it read the stream"
    );

    // The same command re-submitted is executed once: the original receipt comes back.
    let resubmitted = Chronicle::new(store.clone())
        .execute_with(open("n-2", 10), context)
        .await
        .unwrap();
    assert_eq!(resubmitted, original);

    let loaded = first.load::<bank::Account>("n-2").await.unwrap();
    assert_eq!(loaded.version, 1, "nothing was appended after the opening");
}
