//! The event-schema gate: the examples' events agree with the lock files they commit (the gate
//! CI runs), and on real event types the gate names a shape changed without a new version, a
//! version an upcast chain no longer reaches, an event recorded nowhere, and one it cannot
//! describe, each with its fix.

use std::path::{Path, PathBuf};

use chronicle::event_schema::{EventSchemas, Problem, SchemaGateError, UPDATE_VARIABLE};
use chronicle::prelude::*;
use chronicle_tests::support::TempFile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ANCHOR: gate
/// Fails with the gate's report, which says what to do.
fn gate(schemas: EventSchemas, lock: &str) {
    if let Err(error) = schemas.check_or_update(repository().join(lock)) {
        panic!(
            "{error}\n(to record a deliberate change: {UPDATE_VARIABLE}=1 cargo test --test event_schema)"
        );
    }
}

#[test]
fn the_bank_events_agree_with_their_lock_file() {
    gate(
        EventSchemas::new()
            .aggregate::<bank::Account>()
            .aggregate::<bank::transfer::Transfer>(),
        "examples/bank/events.lock.json",
    );
}

#[test]
fn the_order_events_agree_with_their_lock_file() {
    gate(
        EventSchemas::new().aggregate::<orders::domain::Order>(),
        "examples/orders/events.lock.json",
    );
}
// ANCHOR_END: gate

/// What a deposit was in the release the lock file was written by.
mod released {
    use super::*;

    #[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
    #[event(name = "gate.Deposited", version = 1)]
    pub struct Deposited {
        pub account_id: String,
        pub amount: i64,
    }
}

/// The same name and version, edited in place: the amount became text, a currency was added.
mod edited {
    use super::*;

    #[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
    #[event(name = "gate.Deposited", version = 1)]
    pub struct Deposited {
        pub account_id: String,
        pub amount: String,
        pub currency: String,
        /// Rows without it read as `None`: a compatible addition.
        #[serde(default)]
        pub note: Option<String>,
    }
}

/// Done right: a version 2, the old shape kept and upcast.
mod bumped {
    use super::*;

    #[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
    #[event(name = "gate.Deposited", version = 1)]
    pub struct DepositedV1 {
        pub account_id: String,
        pub amount: i64,
    }

    #[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
    #[event(name = "gate.Deposited", version = 2, upcast_from = DepositedV1)]
    pub struct Deposited {
        pub account_id: String,
        pub amount: i64,
        pub currency: String,
    }

    impl From<DepositedV1> for Deposited {
        fn from(v1: DepositedV1) -> Self {
            Self {
                account_id: v1.account_id,
                amount: v1.amount,
                currency: "EUR".into(),
            }
        }
    }

    /// A version 2 whose chain forgot version 1.
    #[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
    #[event(name = "gate.Deposited", version = 2)]
    pub struct DepositedWithoutChain {
        pub account_id: String,
        pub amount: i64,
        pub currency: String,
    }
}

/// An event that does not derive `JsonSchema`.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "gate.Undescribed")]
pub struct Undescribed {
    pub id: String,
}

fn problems(result: Result<(), SchemaGateError>) -> Vec<Problem> {
    match result {
        Err(SchemaGateError::Problems { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn a_shape_edited_in_place_fails_naming_each_field() {
    let lock = TempFile::new("event-lock");
    EventSchemas::new()
        .event::<released::Deposited>()
        .write(lock.path())
        .unwrap();
    EventSchemas::new()
        .event::<released::Deposited>()
        .check(lock.path())
        .expect("the release agrees with its own lock");

    let error = EventSchemas::new()
        .event::<edited::Deposited>()
        .check(lock.path())
        .unwrap_err();
    let report = error.to_string();
    // ANCHOR: report
    for expected in [
        "`gate.Deposited` version 1",
        "changed its stored shape without a new version",
        "field `amount` retyped: was {\"format\":\"int64\",\"type\":\"integer\"}, is {\"type\":\"string\"}",
        "field `currency` added, and required: rows stored before do not have it",
        "field `note` added, optional",
        "bump it to `version = 2`",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
    }
    // ANCHOR_END: report
}

#[test]
fn a_new_version_with_its_upcast_passes_once_recorded_and_a_lost_chain_fails() {
    let lock = TempFile::new("event-lock");
    EventSchemas::new()
        .event::<released::Deposited>()
        .write(lock.path())
        .unwrap();
    let bumped = EventSchemas::new().event::<bumped::Deposited>();
    assert_eq!(
        bumped
            .shapes()
            .iter()
            .map(|s| (s.name, s.version))
            .collect::<Vec<_>>(),
        [("gate.Deposited", 2), ("gate.Deposited", 1)],
        "the chain's shapes, newest first"
    );
    // Version 1 is what was released; version 2 is new, and must be recorded deliberately.
    let unrecorded = problems(bumped.check(lock.path()));
    assert!(
        matches!(&unrecorded[..], [Problem::Unrecorded { version: 2, .. }]),
        "{unrecorded:?}"
    );
    bumped.write(lock.path()).unwrap();
    bumped.check(lock.path()).expect("recorded");

    // Version 2 without `upcast_from`: version 1's rows can no longer be read.
    let lost = problems(
        EventSchemas::new()
            .event::<bumped::DepositedWithoutChain>()
            .check(lock.path()),
    );
    assert!(
        matches!(
            &lost[..],
            [Problem::Disappeared {
                version: 1,
                read: Some((2, 2)),
                ..
            }]
        ),
        "{lost:?}"
    );
    let report = lost[0].to_string();
    assert!(
        report.contains("hole below version 2") && report.contains("upcast_from"),
        "{report}"
    );
}

#[test]
fn an_event_without_a_described_shape_and_a_missing_lock_are_clear() {
    let lock = TempFile::new("event-lock");
    let undescribed = problems(EventSchemas::new().event::<Undescribed>().check(lock.path()));
    assert!(
        matches!(&undescribed[..], [Problem::Undescribed { version: 1, .. }]),
        "{undescribed:?}"
    );
    assert!(
        undescribed[0]
            .to_string()
            .contains("add `#[derive(schemars::JsonSchema)]`"),
        "{undescribed:?}"
    );
    // No lock file yet: every shape is to be recorded.
    let first = problems(
        EventSchemas::new()
            .aggregate::<bank::Account>()
            .check(lock.path()),
    );
    assert_eq!(first.len(), 6, "{first:?}");
    assert!(first.iter().all(|p| matches!(p, Problem::Unrecorded { .. })));
    // A lock file that is not one.
    std::fs::write(lock.path(), "{\"chronicle_event_lock\": 7, \"events\": {}}").unwrap();
    let malformed = EventSchemas::new()
        .aggregate::<bank::Account>()
        .check(lock.path())
        .unwrap_err();
    assert!(
        matches!(malformed, SchemaGateError::Malformed { .. }),
        "{malformed:?}"
    );
    assert!(malformed.to_string().contains("format 7"), "{malformed}");
}
