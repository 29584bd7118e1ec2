//! Property tests of the store contract: random sequences of appends (expected versions right and
//! wrong, commands re-submitted with the same id, event ids repeated), stream reads, pages of the
//! log and command lookups, each checked against a simple model of the log, on `MemoryStore`,
//! `SqliteStore` and `PostgresStore` (a fresh schema or file per case).
//!
//! The case counts are bounded (`CASES_*`) so that each store's test stays well under a minute;
//! `PROPTEST_CASES` overrides them for a longer run.

use std::collections::HashMap;
use std::future::Future;

use chronicle::{EventStore, Metadata, NewEvent, Receipt, RecordedEvent, StoreError};
use chronicle_tests::conformance::backends::{self, Fixture};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::value::RawValue;
use uuid::Uuid;

/// The streams a case writes to: few, so that appends meet on the same stream.
const STREAMS: [&str; 3] = ["prop.Account-a", "prop.Account-b", "prop.Order-1"];

const CASES_MEMORY: u32 = 512;
const CASES_SQLITE: u32 = 96;
const CASES_POSTGRES: u32 = 64;

/// What the expected version of an append is, relative to the stream's real version.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Right,
    Behind,
    Ahead,
    New,
}

/// Whose command an append is, and so which event ids it brings.
#[derive(Debug, Clone, Copy)]
enum Ids {
    /// A command never seen before.
    Fresh,
    /// An earlier command (by index among those tried) re-submitted as the command loop does:
    /// the same command id, so the same event ids.
    Resubmitted(usize),
    /// An earlier command id on new events (another decision of the same command).
    SameCommandNewEvents(usize),
    /// Two events of the append with one id.
    RepeatedWithin,
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        stream: usize,
        expect: Expect,
        count: usize,
        ids: Ids,
    },
    ReadStream {
        stream: usize,
        after_version: u64,
    },
    /// A page of the log after the position of the `from`-th event (0: from the start; past the
    /// end: after the head), of up to `limit` events.
    ReadAll {
        from: usize,
        limit: usize,
        between: bool,
    },
    FindCommand {
        command: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let expect = prop_oneof![
        6 => Just(Expect::Right),
        1 => Just(Expect::Behind),
        1 => Just(Expect::Ahead),
        1 => Just(Expect::New),
    ];
    let ids = prop_oneof![
        6 => Just(Ids::Fresh),
        2 => (0..8usize).prop_map(Ids::Resubmitted),
        1 => (0..8usize).prop_map(Ids::SameCommandNewEvents),
        1 => Just(Ids::RepeatedWithin),
    ];
    prop_oneof![
        5 => (0..STREAMS.len(), expect, 1..4usize, ids)
            .prop_map(|(stream, expect, count, ids)| Op::Append { stream, expect, count, ids }),
        2 => (0..STREAMS.len(), 0..8u64).prop_map(|(stream, after_version)| Op::ReadStream { stream, after_version }),
        2 => (0..24usize, 0..6usize, any::<bool>()).prop_map(|(from, limit, between)| Op::ReadAll { from, limit, between }),
        1 => (0..10usize).prop_map(|command| Op::FindCommand { command }),
    ]
}

/// One event of the model's log, and the position the store gave it.
#[derive(Debug, Clone)]
struct Stored {
    stream: usize,
    stream_version: u64,
    event_id: Uuid,
    command_id: Uuid,
    n: u64,
    position: u64,
}

/// The log as the contract says it must be.
#[derive(Debug, Default)]
struct Model {
    log: Vec<Stored>,
    /// Every command id tried, in order.
    commands: Vec<Uuid>,
    /// The receipt of the newest successful append of each command id.
    receipts: HashMap<Uuid, Receipt>,
    /// Payload counter: each event's `n` is unique.
    next_n: u64,
}

impl Model {
    fn version(&self, stream: usize) -> u64 {
        self.log.iter().filter(|e| e.stream == stream).count() as u64
    }

    fn has_event(&self, id: Uuid) -> bool {
        self.log.iter().any(|e| e.event_id == id)
    }
}

fn event(command_id: Uuid, event_id: Uuid, n: u64) -> NewEvent {
    NewEvent {
        event_id,
        event_type: "prop.Happened",
        event_version: 1,
        payload: RawValue::from_string(format!(r#"{{"n":{n},"text":"é \"quoted\""}}"#)).unwrap(),
        metadata: Metadata {
            command_id,
            correlation_id: command_id,
            causation_id: command_id,
            actor: Some("proptest".to_owned()),
            extra: serde_json::Map::new(),
        },
    }
}

/// Checks that `got` is the model's events `want`, as the store returns them.
fn same_events(got: &[RecordedEvent], want: &[&Stored]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{:?} vs {:?}", got, want);
    for (got, want) in got.iter().zip(want) {
        prop_assert_eq!(&got.stream_id, STREAMS[want.stream]);
        prop_assert_eq!(got.stream_version, want.stream_version);
        prop_assert_eq!(got.event_id, want.event_id);
        prop_assert_eq!(got.position, want.position);
        prop_assert_eq!(&got.event_type, "prop.Happened");
        prop_assert_eq!(got.event_version, 1);
        prop_assert_eq!(got.metadata.command_id, want.command_id);
        prop_assert_eq!(got.metadata.actor.as_deref(), Some("proptest"));
        let payload: serde_json::Value = serde_json::from_str(got.payload.get()).unwrap();
        prop_assert_eq!(
            payload,
            serde_json::json!({ "n": want.n, "text": "é \"quoted\"" })
        );
    }
    Ok(())
}

/// Runs `ops` on `store`, checking each result against the model.
async fn run<S: EventStore>(store: &S, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    for op in ops {
        match *op {
            Op::Append {
                stream,
                expect,
                count,
                ids,
            } => append(store, &mut model, stream, expect, count, ids).await?,
            Op::ReadStream {
                stream,
                after_version,
            } => {
                let got = store.read_stream(STREAMS[stream], after_version).await.unwrap();
                let want: Vec<&Stored> = model
                    .log
                    .iter()
                    .filter(|e| e.stream == stream && e.stream_version > after_version)
                    .collect();
                same_events(&got, &want)?;
            }
            Op::ReadAll { from, limit, between } => {
                // After the `from`-th event's position, or (`between`) one below it, which
                // lands in the gap a store may leave before it; past the end, after the head.
                let after = match from {
                    0 => 0,
                    k if k <= model.log.len() => model.log[k - 1].position - u64::from(between),
                    k => model.log.last().map_or(0, |e| e.position) + k as u64,
                };
                let got = store.read_all(after, limit).await.unwrap();
                let want: Vec<&Stored> = model
                    .log
                    .iter()
                    .filter(|e| e.position > after)
                    .take(limit)
                    .collect();
                same_events(&got, &want)?;
            }
            Op::FindCommand { command } => {
                let id = model.commands.get(command).copied().unwrap_or_else(Uuid::new_v4);
                let got = store.find_command(id).await.unwrap();
                prop_assert_eq!(got, model.receipts.get(&id).cloned());
            }
        }
    }
    let everything = store.read_all(0, usize::MAX >> 1).await.unwrap();
    same_events(&everything, &model.log.iter().collect::<Vec<_>>())?;
    Ok(())
}

async fn append<S: EventStore>(
    store: &S,
    model: &mut Model,
    stream: usize,
    expect: Expect,
    count: usize,
    ids: Ids,
) -> Result<(), TestCaseError> {
    let current = model.version(stream);
    let expected = match expect {
        Expect::Right => current,
        Expect::Behind => current.saturating_sub(1),
        Expect::Ahead => current + 1,
        Expect::New => 0,
    };
    let earlier = |index: usize| model.commands.get(index % model.commands.len().max(1)).copied();
    let (command_id, salt) = match ids {
        Ids::Fresh | Ids::RepeatedWithin => (Uuid::new_v4(), 0u64),
        Ids::Resubmitted(index) => (earlier(index).unwrap_or_else(Uuid::new_v4), 0),
        Ids::SameCommandNewEvents(index) => {
            (earlier(index).unwrap_or_else(Uuid::new_v4), model.next_n + 1_000)
        }
    };
    // The ids the command loop gives a command's events: derived from the command id.
    let mut event_ids: Vec<Uuid> = (0..count as u64)
        .map(|index| Uuid::new_v5(&command_id, &(salt + index).to_be_bytes()))
        .collect();
    if matches!(ids, Ids::RepeatedWithin) {
        event_ids.push(event_ids[0]);
    }
    let events: Vec<NewEvent> = event_ids
        .iter()
        .enumerate()
        .map(|(index, id)| event(command_id, *id, model.next_n + index as u64))
        .collect();
    if !model.commands.contains(&command_id) {
        model.commands.push(command_id);
    }

    let conflict = expected != current;
    let duplicate = event_ids
        .iter()
        .enumerate()
        .any(|(index, id)| model.has_event(*id) || event_ids[..index].contains(id));
    let result = store.append(STREAMS[stream], expected, events).await;
    match result {
        Ok(receipt) => {
            prop_assert!(
                !conflict && !duplicate,
                "appended despite conflict {} / duplicate {}",
                conflict,
                duplicate
            );
            prop_assert_eq!(&receipt.stream_id, STREAMS[stream]);
            prop_assert_eq!(receipt.stream_version, current + event_ids.len() as u64);
            let position = receipt.position.expect("an append of events has a position");
            prop_assert!(
                model.log.last().is_none_or(|e| e.position < position),
                "positions increase"
            );
            // The positions of the append's events, read back: the last is the receipt's.
            let written = store.read_stream(STREAMS[stream], current).await.unwrap();
            prop_assert_eq!(written.len(), event_ids.len());
            prop_assert_eq!(written.last().map(|e| e.position), Some(position));
            for (index, (id, recorded)) in event_ids.iter().zip(&written).enumerate() {
                let previous = model.log.last().map_or(0, |e| e.position);
                prop_assert!(
                    recorded.position > previous,
                    "positions increase within an append"
                );
                model.log.push(Stored {
                    stream,
                    stream_version: current + 1 + index as u64,
                    event_id: *id,
                    command_id,
                    n: model.next_n + index as u64,
                    position: recorded.position,
                });
            }
            same_events(
                &written,
                &model.log[model.log.len() - written.len()..]
                    .iter()
                    .collect::<Vec<_>>(),
            )?;
            model.receipts.insert(command_id, receipt);
        }
        Err(StoreError::Conflict {
            stream_id,
            expected: reported,
        }) => {
            prop_assert!(
                conflict,
                "a conflict at the right version (duplicate: {})",
                duplicate
            );
            prop_assert_eq!(stream_id, STREAMS[stream]);
            prop_assert_eq!(reported, expected);
        }
        Err(StoreError::DuplicateEvent { event_id }) => {
            prop_assert!(
                duplicate,
                "a duplicate without a repeated id (conflict: {})",
                conflict
            );
            prop_assert!(event_ids.contains(&event_id));
        }
        Err(other) => return Err(TestCaseError::fail(format!("unexpected error {other}"))),
    }
    model.next_n += event_ids.len() as u64;
    Ok(())
}

/// Runs `cases` random sequences of up to 40 operations, each on a store of its own from `open`.
fn check_store<S, F>(cases: u32, open: fn() -> F)
where
    S: EventStore,
    F: Future<Output = Fixture<S>>,
{
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut config = Config::with_cases(cases);
    if let Ok(cases) = std::env::var("PROPTEST_CASES") {
        config.cases = cases.parse().expect("PROPTEST_CASES is a number");
    }
    config.failure_persistence = None;
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        runtime.block_on(async {
            let fixture = open().await;
            run(&fixture.store(), &ops).await?;
            fixture.close().await;
            Ok(())
        })
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    eprintln!("{} cases in {:?}", runner.config().cases, started.elapsed());
}

#[test]
fn memory_store_keeps_the_contract() {
    check_store(CASES_MEMORY, backends::memory);
}

#[test]
fn sqlite_store_keeps_the_contract() {
    check_store(CASES_SQLITE, backends::sqlite);
}

#[test]
fn postgres_store_keeps_the_contract() {
    check_store(CASES_POSTGRES, backends::postgres);
}
