//! The write side's behaviour, run unchanged against every store: memory, SQLite and Postgres.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bank::{Account, AccountEvent, BankError, Deposit, MoneyDeposited, OpenAccount, Withdraw};
use chronicle::prelude::*;
use chronicle::{NewEvent, RecordedEvent, StoreError};
use chronicle_tests::support;
use serde_json::value::RawValue;
use tokio::sync::Barrier;
use uuid::Uuid;

fn open(id: &str) -> OpenAccount {
    OpenAccount {
        account_id: id.into(),
        owner: "Ada".into(),
        overdraft_limit: 50,
    }
}

fn deposit(id: &str, amount: i64) -> Deposit {
    Deposit {
        account_id: id.into(),
        amount,
    }
}

async fn append_and_load<S: EventStore>(store: S) {
    let bank = Chronicle::new(store.clone());
    let opened = bank.execute(open("a-1")).await.unwrap();
    assert_eq!(
        (opened.stream_id.as_str(), opened.stream_version),
        ("bank.Account-a-1", 1)
    );
    let context = CommandContext::new().actor("teller-7").with("channel", "branch");
    let deposited = bank.execute_with(deposit("a-1", 70), context).await.unwrap();
    let withdrawn = bank
        .execute(Withdraw {
            account_id: "a-1".into(),
            amount: 100,
        })
        .await
        .unwrap();
    assert_eq!((deposited.stream_version, withdrawn.stream_version), (2, 3));
    assert!(opened.position < deposited.position && deposited.position < withdrawn.position);

    let account = bank.load::<Account>("a-1").await.unwrap();
    assert_eq!((account.state.balance(), account.version), (-30, 3));

    let history = store.read_stream("bank.Account-a-1", 0).await.unwrap();
    let types: Vec<_> = history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["bank.AccountOpened", "bank.MoneyDeposited", "bank.MoneyWithdrawn"]
    );
    let metadata = &history[1].metadata;
    assert_eq!(metadata.actor.as_deref(), Some("teller-7"));
    assert_eq!(metadata.extra.get("channel"), Some(&serde_json::json!("branch")));
    assert_eq!(metadata.correlation_id, metadata.command_id);
    assert_eq!(metadata.causation_id, metadata.command_id);
    assert_eq!(history[1].position, deposited.position.unwrap());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(history[1].payload.get()).unwrap()["amount"],
        70
    );
    assert_eq!(
        history.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(store.read_stream("bank.Account-a-1", 2).await.unwrap().len(), 1);
}

async fn rejected_command_appends_nothing<S: EventStore>(store: S) {
    let bank = Chronicle::new(store.clone());
    bank.execute(open("a-2")).await.unwrap();
    let error = bank
        .execute(Withdraw {
            account_id: "a-2".into(),
            amount: 51,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            CommandError::Rejected(BankError::Overdraft {
                requested: 51,
                balance: 0,
                limit: 50
            })
        ),
        "{error:?}"
    );
    let error = bank.execute(deposit("never-opened", 5)).await.unwrap_err();
    assert!(
        matches!(error, CommandError::Rejected(BankError::NotOpen(_))),
        "{error:?}"
    );
    assert_eq!(store.read_stream("bank.Account-a-2", 0).await.unwrap().len(), 1);
    assert!(store
        .read_stream("bank.Account-never-opened", 0)
        .await
        .unwrap()
        .is_empty());
}

/// Holds the first `gated` stream reads until as many readers have arrived, so concurrent
/// commands are guaranteed to decide on the same version and collide on append.
#[derive(Clone)]
struct Rendezvous<S> {
    inner: S,
    barrier: Arc<Barrier>,
    gated: Arc<AtomicUsize>,
    reads: Arc<AtomicUsize>,
}

impl<S: EventStore> EventStore for Rendezvous<S> {
    async fn append_checked(
        &self,
        stream_id: &str,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        self.inner.append_checked(stream_id, expected, events).await
    }
    async fn read_stream(&self, stream_id: &str, after: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.read_stream(stream_id, after).await;
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self
            .gated
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            self.barrier.wait().await;
        }
        events
    }
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }
    async fn find_command(&self, command_id: Uuid) -> Result<Option<Receipt>, StoreError> {
        self.inner.find_command(command_id).await
    }
}

async fn two_concurrent_commands_both_succeed_by_retrying<S: EventStore>(store: S) {
    Chronicle::new(store.clone()).execute(open("a-3")).await.unwrap();
    let gate = Rendezvous {
        inner: store.clone(),
        barrier: Arc::new(Barrier::new(2)),
        gated: Arc::new(AtomicUsize::new(2)),
        reads: Arc::default(),
    };
    let bank = Chronicle::new(gate.clone());
    let (first, second) = tokio::join!(bank.execute(deposit("a-3", 10)), bank.execute(deposit("a-3", 20)));
    let mut versions = [first.unwrap().stream_version, second.unwrap().stream_version];
    versions.sort();
    assert_eq!(versions, [2, 3]);
    assert_eq!(
        gate.reads.load(Ordering::SeqCst),
        3,
        "one command should have reloaded after the conflict"
    );
    let events = store.read_stream("bank.Account-a-3", 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(bank.load::<Account>("a-3").await.unwrap().state.balance(), 30);
}

async fn many_writers_lose_and_duplicate_nothing<S: EventStore>(store: S) {
    const TASKS: usize = 50;
    const COMMANDS: i64 = 20;
    const ACCOUNTS: usize = 5;
    let bank = Chronicle::new(store.clone()).with_max_attempts(200);
    for account in 0..ACCOUNTS {
        bank.execute(open(&format!("hot-{account}"))).await.unwrap();
    }
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let bank = bank.clone();
            tokio::spawn(async move {
                for amount in 1..=COMMANDS {
                    let command = deposit(&format!("hot-{}", task % ACCOUNTS), amount);
                    bank.execute(command).await.expect("deposit under contention");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let writers_per_account = (TASKS / ACCOUNTS) as i64;
    let mut event_ids = HashSet::new();
    for account in 0..ACCOUNTS {
        let stream = format!("bank.Account-hot-{account}");
        let events = store.read_stream(&stream, 0).await.unwrap();
        let expected_len = 1 + writers_per_account * COMMANDS;
        assert_eq!(events.len() as i64, expected_len, "{stream}");
        assert!(
            events.iter().zip(1..).all(|(e, v)| e.stream_version == v),
            "{stream} versions have a gap"
        );
        event_ids.extend(events.iter().map(|e| e.event_id));
        let balance = bank
            .load::<Account>(format!("hot-{account}"))
            .await
            .unwrap()
            .state
            .balance();
        assert_eq!(balance, writers_per_account * COMMANDS * (COMMANDS + 1) / 2);
    }
    assert_eq!(
        event_ids.len(),
        ACCOUNTS * (1 + TASKS / ACCOUNTS * COMMANDS as usize)
    );
}

async fn resubmitted_command_is_executed_once<S: EventStore>(store: S) {
    let bank = Chronicle::new(store.clone());
    let open_id = Uuid::new_v4();
    let first = bank
        .execute_with(open("a-4"), CommandContext::new().command_id(open_id))
        .await
        .unwrap();
    // The state now rejects a second opening; the original receipt wins over the rejection.
    let again = bank
        .execute_with(open("a-4"), CommandContext::new().command_id(open_id))
        .await
        .unwrap();
    assert_eq!(first, again);

    let deposit_id = Uuid::new_v4();
    let first = bank
        .execute_with(deposit("a-4", 5), CommandContext::new().command_id(deposit_id))
        .await
        .unwrap();
    let again = bank
        .execute_with(deposit("a-4", 5), CommandContext::new().command_id(deposit_id))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(store.read_stream("bank.Account-a-4", 0).await.unwrap().len(), 2);
    assert_eq!(store.find_command(deposit_id).await.unwrap(), Some(first));
    assert_eq!(store.find_command(Uuid::new_v4()).await.unwrap(), None);
}

fn raw_event(event_type: &'static str, version: u32, payload: &str) -> NewEvent {
    let command_id = Uuid::new_v4();
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type,
        event_version: version,
        payload: RawValue::from_string(payload.to_owned()).unwrap(),
        metadata: chronicle::Metadata {
            command_id,
            correlation_id: command_id,
            causation_id: command_id,
            actor: None,
            extra: Default::default(),
        },
    }
}

async fn bad_rows_give_typed_errors<S: EventStore>(store: S) {
    let bank = Chronicle::new(store.clone());
    bank.execute(open("a-5")).await.unwrap();
    let stream = "bank.Account-a-5";
    store
        .append(
            stream,
            1,
            vec![raw_event(
                "bank.MoneyDeposited",
                1,
                r#"{"account_id":"a-5","amount":"lots"}"#,
            )],
        )
        .await
        .unwrap();
    match bank.load::<Account>("a-5").await.unwrap_err() {
        StoreError::Undecodable {
            stream_id,
            stream_version: 2,
            event_type,
            event_version: 1,
            ..
        } => {
            assert_eq!(
                (stream_id.as_str(), event_type.as_str()),
                (stream, "bank.MoneyDeposited")
            );
        }
        other => panic!("expected Undecodable, got {other:?}"),
    }
    let error = bank.execute(deposit("a-5", 1)).await.unwrap_err();
    assert!(
        matches!(error, CommandError::Store(StoreError::Undecodable { .. })),
        "{error:?}"
    );

    bank.execute(open("a-6")).await.unwrap();
    store
        .append("bank.Account-a-6", 1, vec![raw_event("bank.Mystery", 1, "{}")])
        .await
        .unwrap();
    store
        .append(
            "bank.Account-a-7",
            0,
            vec![raw_event("bank.AccountOpened", 9, "{}")],
        )
        .await
        .unwrap();
    for (id, event_type, event_version, stream_version) in
        [("a-6", "bank.Mystery", 1, 2), ("a-7", "bank.AccountOpened", 9, 1)]
    {
        let error = bank.load::<Account>(id).await.unwrap_err();
        let message = error.to_string();
        match error {
            // An unknown name, and a known name at a version the type does not read.
            StoreError::UnknownEventType {
                event_type: t,
                event_version: v,
                stream_version: sv,
                ..
            }
            | StoreError::UnknownEventVersion {
                event_type: t,
                event_version: v,
                stream_version: sv,
                ..
            } => {
                assert_eq!((t.as_str(), v, sv), (event_type, event_version, stream_version));
                assert_eq!(t == "bank.Mystery", message.starts_with("unknown event type"));
                assert!(message.contains(id) && message.contains(event_type), "{message}");
            }
            other => panic!("expected UnknownEventType or UnknownEventVersion, got {other:?}"),
        }
    }
}

async fn decoded_events_round_trip<S: EventStore>(store: S) {
    let bank = Chronicle::new(store.clone());
    bank.execute(open("a-8")).await.unwrap();
    bank.execute(deposit("a-8", 12)).await.unwrap();
    let recorded = store.read_stream("bank.Account-a-8", 1).await.unwrap();
    match chronicle::decode_recorded::<AccountEvent>(&recorded[0]).unwrap() {
        AccountEvent::MoneyDeposited(MoneyDeposited {
            account_id,
            amount: 12,
        }) => assert_eq!(account_id, "a-8"),
        other => panic!("unexpected {other:?}"),
    }
    let all = store.read_all(0, 100).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(store.read_all(0, 1).await.unwrap().len(), 1);
}

macro_rules! behaviour {
    ($store:ident, $make:expr) => {
        mod $store {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn append_and_load() {
                super::append_and_load($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rejected_command_appends_nothing() {
                super::rejected_command_appends_nothing($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn two_concurrent_commands_both_succeed_by_retrying() {
                super::two_concurrent_commands_both_succeed_by_retrying($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn many_writers_lose_and_duplicate_nothing() {
                super::many_writers_lose_and_duplicate_nothing($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn resubmitted_command_is_executed_once() {
                super::resubmitted_command_is_executed_once($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bad_rows_give_typed_errors() {
                super::bad_rows_give_typed_errors($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn decoded_events_round_trip() {
                super::decoded_events_round_trip($make).await;
            }
        }
    };
}

behaviour!(memory, MemoryStore::new());
behaviour!(sqlite, support::sqlite_store().await);
behaviour!(postgres, support::postgres_store().await);
behaviour!(
    postgres_group_commit,
    support::postgres_store()
        .await
        .with_group_commit(chronicle::GroupCommit::default())
);
