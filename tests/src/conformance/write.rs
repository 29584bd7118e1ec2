//! The write side, through `Chronicle`: commands decided and appended, rejections, retries after
//! a conflict, re-submitted commands, and rows that cannot be read back.

use bank::{Account, AccountEvent, BankError, Deposit, MoneyDeposited, OpenAccount, Withdraw};
use chronicle::prelude::*;
use chronicle::StoreError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::stored;
use crate::spy::Spy;

/// Opens account `id` for Ada, with an overdraft limit of 50.
pub fn open(id: &str) -> OpenAccount {
    OpenAccount {
        account_id: id.into(),
        owner: "Ada".into(),
        overdraft_limit: 50,
    }
}

/// Deposits `amount` on account `id`.
pub fn deposit(id: &str, amount: i64) -> Deposit {
    Deposit {
        account_id: id.into(),
        amount,
    }
}

/// Withdraws `amount` from account `id`.
pub fn withdraw(id: &str, amount: i64) -> Withdraw {
    Withdraw {
        account_id: id.into(),
        amount,
    }
}

pub async fn append_and_load<S: EventStore>(store: S) {
    let bank = Chronicle::new(store.clone());
    let opened = bank.execute(open("a-1")).await.unwrap();
    assert_eq!(
        (opened.stream_id.as_str(), opened.stream_version),
        ("bank.Account-a-1", 1)
    );
    let context = CommandContext::new().actor("teller-7").with("channel", "branch");
    let deposited = bank.execute_with(deposit("a-1", 70), context).await.unwrap();
    let withdrawn = bank.execute(withdraw("a-1", 100)).await.unwrap();
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

pub async fn a_rejected_command_appends_nothing<S: EventStore>(store: S) {
    let bank = Chronicle::new(store.clone());
    bank.execute(open("a-2")).await.unwrap();
    let error = bank.execute(withdraw("a-2", 51)).await.unwrap_err();
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

/// Two write sides (as two processes would be) whose first stream reads meet at a barrier, so
/// both commands are sure to decide on the same version and collide on append; the loser reads
/// again and succeeds. (Within one write side, commands on a stream take turns and never meet.)
pub async fn two_concurrent_commands_both_succeed_by_retrying<S: EventStore>(store: S) {
    Chronicle::new(store.clone()).execute(open("a-3")).await.unwrap();
    let gate = Spy::new(store.clone()).rendezvous_stream_reads(2);
    let (bank, elsewhere) = (Chronicle::new(gate.clone()), Chronicle::new(gate.clone()));
    let (first, second) = tokio::join!(
        bank.execute(deposit("a-3", 10)),
        elsewhere.execute(deposit("a-3", 20))
    );
    let mut versions = [first.unwrap().stream_version, second.unwrap().stream_version];
    versions.sort();
    assert_eq!(versions, [2, 3]);
    assert_eq!(
        gate.stream_reads(),
        3,
        "one command should have read again after the conflict"
    );
    let events = store.read_stream("bank.Account-a-3", 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(bank.load::<Account>("a-3").await.unwrap().state.balance(), 30);
}

pub async fn a_resubmitted_command_is_executed_once<S: EventStore>(store: S) {
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
    // Through another process's write side too, whose cache knows nothing.
    let again = Chronicle::new(store.clone())
        .execute_with(deposit("a-4", 5), CommandContext::new().command_id(deposit_id))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(store.read_stream("bank.Account-a-4", 0).await.unwrap().len(), 2);
    assert_eq!(store.find_command(deposit_id).await.unwrap(), Some(first));
    assert_eq!(store.find_command(Uuid::new_v4()).await.unwrap(), None);
}

/// A counter whose rows the next scenario writes by hand. Its own aggregate, so that no view
/// of the store under test (the inline bank view) reads the bad rows before the test does.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "test.Counted")]
pub struct Counted {
    pub by: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Counter)]
pub struct Count {
    #[id]
    pub counter_id: String,
    pub by: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

#[derive(Default, Clone, Debug)]
pub struct Counter {
    total: i64,
}

#[aggregate(name = "test.Counter")]
impl Counter {
    #[handle]
    fn count(&self, command: &Count) -> Result<Counted, Never> {
        Ok(Counted { by: command.by })
    }

    #[apply]
    fn counted(&mut self, event: &Counted) {
        self.total += event.by;
    }
}

impl Counter {
    /// The sum of the counts.
    pub fn total(&self) -> i64 {
        self.total
    }
}

pub async fn bad_rows_give_typed_errors<S: EventStore>(store: S) {
    let app = Chronicle::new(store.clone());
    let count = |id: &str| Count {
        counter_id: id.into(),
        by: 1,
    };
    app.execute(count("c-5")).await.unwrap();
    let stream = "test.Counter-c-5";
    store
        .append(stream, 1, vec![stored("test.Counted", 1, r#"{"by":"lots"}"#)])
        .await
        .unwrap();
    match app.load::<Counter>("c-5").await.unwrap_err() {
        StoreError::Undecodable {
            stream_id,
            stream_version: 2,
            event_type,
            event_version: 1,
            ..
        } => {
            assert_eq!(
                (stream_id.as_str(), event_type.as_str()),
                (stream, "test.Counted")
            );
        }
        other => panic!("expected Undecodable, got {other:?}"),
    }
    // A command fails with it too: decided on the cached state, its append conflicts and the
    // catch-up reads the row; or, in another process, its load reads it.
    for app in [app.clone(), Chronicle::new(store.clone())] {
        let error = app.execute(count("c-5")).await.unwrap_err();
        assert!(
            matches!(error, CommandError::Store(StoreError::Undecodable { .. })),
            "{error:?}"
        );
    }

    app.execute(count("c-6")).await.unwrap();
    store
        .append("test.Counter-c-6", 1, vec![stored("test.Mystery", 1, "{}")])
        .await
        .unwrap();
    store
        .append("test.Counter-c-7", 0, vec![stored("test.Counted", 9, "{}")])
        .await
        .unwrap();
    for (id, event_type, event_version, stream_version) in
        [("c-6", "test.Mystery", 1, 2), ("c-7", "test.Counted", 9, 1)]
    {
        let error = app.load::<Counter>(id).await.unwrap_err();
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
                assert_eq!(t == "test.Mystery", message.starts_with("unknown event type"));
                assert!(message.contains(id) && message.contains(event_type), "{message}");
            }
            other => panic!("expected UnknownEventType or UnknownEventVersion, got {other:?}"),
        }
    }
}

pub async fn decoded_events_round_trip<S: EventStore>(store: S) {
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
