//! Input limits (issue 10, #13): what no store can keep is refused by every store alike, with the
//! same typed error, before the store sees it: a stream id of more than
//! [`MAX_STREAM_ID_BYTES`] bytes, an empty one or one with a NUL
//! character ([`StoreError::InvalidStreamId`]), a NUL in a payload's strings or in the metadata
//! ([`StoreError::InvalidEvent`]); through `EventStore::append` and through `Chronicle`. What is
//! within the limits works everywhere: a stream id of exactly 1024 bytes, unicode, quotes.

use bank::{Account, OpenAccount};
use chronicle::prelude::*;
use chronicle::{check_stream_id, NewEvent, Snapshot, StoreError, MAX_STREAM_ID_BYTES};
use serde_json::json;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::events::{command, event, metadata};
use super::stream_identity::{AddToOrder, Order};
use crate::spy::Spy;

/// Stream ids no store accepts, and the rule each breaks.
fn bad_stream_ids() -> Vec<(String, &'static str)> {
    vec![
        ("x".repeat(3 * 1024), "a stream id has at most 1024 bytes"),
        (
            "x".repeat(MAX_STREAM_ID_BYTES + 1),
            "a stream id has at most 1024 bytes",
        ),
        (
            format!("{}\u{e9}", "x".repeat(MAX_STREAM_ID_BYTES - 1)),
            "a stream id has at most 1024 bytes",
        ),
        ("a\0b".to_owned(), "a stream id cannot contain a NUL character"),
        ("\0".to_owned(), "a stream id cannot contain a NUL character"),
        (String::new(), "a stream id cannot be empty"),
    ]
}

fn assert_invalid_stream_id(error: &StoreError, stream: &str, rule: &str) {
    match error {
        StoreError::InvalidStreamId { stream_id, reason } => {
            assert_eq!(*reason, rule, "{stream:?}");
            let shortened: String = stream.chars().take(80).collect();
            assert_eq!(*stream_id, shortened, "the error names the id, shortened");
        }
        other => panic!("expected InvalidStreamId for {stream:?}, got {other:?}"),
    }
    assert!(error.to_string().contains(rule), "{error}");
}

pub async fn stream_ids_no_store_keeps_are_refused_before_the_store<S: EventStore>(store: S) {
    let spy = Spy::new(store.clone());
    for (stream, rule) in bad_stream_ids() {
        assert!(check_stream_id(&stream).is_err(), "{stream:?}");
        // Through the store itself, and through a spy that sees what reaches the store.
        for error in [
            store.append(&stream, 0, command(1)).await.unwrap_err(),
            spy.append(&stream, 0, command(1)).await.unwrap_err(),
        ] {
            assert_invalid_stream_id(&error, &stream, rule);
        }
    }
    assert_eq!(spy.appends(), 0, "no invalid append reached the store");

    // Through `Chronicle`: refused before the aggregate is even loaded.
    let app = Chronicle::new(spy.clone());
    let prefix = "Order-".len();
    for (id, rule) in [
        ("x".repeat(3 * 1024), "a stream id has at most 1024 bytes"),
        (
            "x".repeat(MAX_STREAM_ID_BYTES + 1 - prefix),
            "a stream id has at most 1024 bytes",
        ),
        (
            "Line\0-5".to_owned(),
            "a stream id cannot contain a NUL character",
        ),
    ] {
        let stream = format!("Order-{id}");
        let error = app
            .execute(AddToOrder {
                id: id.clone(),
                item: "never stored".into(),
            })
            .await
            .unwrap_err();
        match error {
            CommandError::Store(error) => assert_invalid_stream_id(&error, &stream, rule),
            other => panic!("expected a store error, got {other:?}"),
        }
        let error = app.load::<Order>(&id).await.unwrap_err();
        assert_invalid_stream_id(&error, &stream, rule);
        let error = app.history::<Order>(&id).await.unwrap_err();
        assert_invalid_stream_id(&error, &stream, rule);
    }
    assert_eq!(
        (spy.appends(), spy.stream_reads()),
        (0, 0),
        "nothing reached the store"
    );
    assert!(store.read_all(0, 10).await.unwrap().is_empty());
}

fn assert_invalid_event(error: &StoreError, event: &str, rule: &str) {
    match error {
        StoreError::InvalidEvent { event_type, reason } => {
            assert_eq!((*event_type, *reason), (event, rule));
        }
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
}

const NUL_PAYLOAD: &str = "its payload contains a NUL character (`\\u0000`)";
const NUL_METADATA: &str = "its metadata contains a NUL character";

pub async fn events_no_store_keeps_are_refused_before_the_store<S: EventStore>(store: S) {
    let spy = Spy::new(store.clone());
    let meta = metadata(Uuid::new_v4());
    let with_payload = |payload: &str| NewEvent {
        payload: RawValue::from_string(payload.to_owned()).unwrap(),
        ..event(&meta, json!(null))
    };
    let with_metadata = |change: &dyn Fn(&mut chronicle::Metadata)| {
        let mut event = event(&meta, json!({"fine": true}));
        change(&mut event.metadata);
        event
    };
    let cases: Vec<(Vec<NewEvent>, &str)> = vec![
        (vec![event(&meta, json!({"text": "a\u{0}b"}))], NUL_PAYLOAD),
        (
            vec![with_payload(r#"{"deep": [{"text": "\u0000"}]}"#)],
            NUL_PAYLOAD,
        ),
        (vec![with_payload(r#"{"key\u0000": 1}"#)], NUL_PAYLOAD),
        (vec![with_payload(r#""\\\u0000""#)], NUL_PAYLOAD),
        (
            vec![with_metadata(&|m| m.actor = Some("ali\0ce".into()))],
            NUL_METADATA,
        ),
        (
            vec![with_metadata(&|m| {
                m.extra.insert("reason".into(), json!("a\u{0}b"));
            })],
            NUL_METADATA,
        ),
        (
            vec![with_metadata(&|m| {
                m.extra.insert("nested".into(), json!({"list": ["ok", "n\u{0}"]}));
            })],
            NUL_METADATA,
        ),
        (
            vec![with_metadata(&|m| {
                m.extra.insert("k\0".into(), json!(1));
            })],
            NUL_METADATA,
        ),
        // The last event of a command spoils all of it.
        (
            {
                let mut events = command(3);
                events.push(event(&meta, json!({"text": "\u{0}"})));
                events
            },
            NUL_PAYLOAD,
        ),
    ];
    for (events, rule) in cases {
        for target in [0, 1] {
            let result = if target == 0 {
                store.append("s", 0, events.clone()).await
            } else {
                spy.append("s", 0, events.clone()).await
            };
            assert_invalid_event(&result.unwrap_err(), "test.Happened", rule);
        }
    }
    assert_eq!(spy.appends(), 0, "no invalid event reached the store");
    assert!(store.read_all(0, 10).await.unwrap().is_empty());

    // A backslash followed by the text `u0000` is no NUL: it is stored as it is.
    let receipt = store
        .append("s", 0, vec![with_payload(r#"{"text": "\\u0000"}"#)])
        .await
        .unwrap();
    assert_eq!(receipt.stream_version, 1);
    let stored = store.read_stream("s", 0).await.unwrap();
    let payload: serde_json::Value = serde_json::from_str(stored[0].payload.get()).unwrap();
    assert_eq!(payload, json!({"text": "\\u0000"}));

    // Through `Chronicle`: a NUL in a command's data, in its actor, in its extra metadata.
    let app = Chronicle::new(spy.clone());
    let open = |owner: &str| OpenAccount {
        account_id: "nul".into(),
        owner: owner.into(),
        overdraft_limit: 0,
    };
    for (context, owner, rule) in [
        (CommandContext::new(), "Ada\0", NUL_PAYLOAD),
        (CommandContext::new().actor("teller\0"), "Ada", NUL_METADATA),
        (
            CommandContext::new().with("channel", "bra\0nch"),
            "Ada",
            NUL_METADATA,
        ),
    ] {
        match app.execute_with(open(owner), context).await.unwrap_err() {
            CommandError::Store(error) => assert_invalid_event(&error, "bank.AccountOpened", rule),
            other => panic!("expected a store error, got {other:?}"),
        }
    }
    assert_eq!(spy.appends(), 0, "nothing reached the store");
    assert!(!app.load::<Account>("nul").await.unwrap().state.is_open());
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
}

fn snapshot_of(stream_id: &str) -> Snapshot {
    Snapshot {
        stream_id: stream_id.into(),
        aggregate_type: "Order".into(),
        snapshot_version: 1,
        stream_version: 1,
        state: serde_json::value::to_raw_value(&json!({"items": []})).unwrap(),
        taken_at: chrono::Utc::now(),
    }
}

pub async fn the_longest_stream_id_unicode_and_quotes_work_everywhere<S: EventStore>(store: S) {
    let longest = "x".repeat(MAX_STREAM_ID_BYTES);
    // 2-byte characters up to the limit: the limit counts bytes.
    let unicode_longest = format!("Order-{}", "\u{e9}".repeat((MAX_STREAM_ID_BYTES - 6) / 2));
    assert_eq!(unicode_longest.len(), MAX_STREAM_ID_BYTES);
    for stream in [longest.as_str(), unicode_longest.as_str()] {
        let events = command(2);
        let command_id = events[0].metadata.command_id;
        let correlation_id = events[0].metadata.correlation_id;
        let receipt = store.append(stream, 0, events).await.unwrap();
        assert_eq!((receipt.stream_id.as_str(), receipt.stream_version), (stream, 2));
        let read = store.read_stream(stream, 0).await.unwrap();
        assert_eq!(read.len(), 2);
        assert!(read.iter().all(|e| e.stream_id == stream));
        assert_eq!(store.find_command(command_id).await.unwrap(), Some(receipt));
        let caused = store.read_by_correlation(correlation_id).await.unwrap();
        assert!(caused.iter().all(|e| e.stream_id == stream) && caused.len() == 2);
        store.write_snapshot(snapshot_of(stream)).await.unwrap();
        let snapshot = store.read_snapshot(stream).await.unwrap().unwrap();
        assert_eq!(snapshot.stream_id, stream);
    }

    // Through `Chronicle`, ids with unicode, quotes, backslashes and SQL in them, and the
    // longest id an aggregate's name leaves room for.
    let app = Chronicle::new(store.clone());
    let ids = [
        "O'Brien \"quoted\" \u{2014} \u{fc}n\u{ef}c\u{f8}d\u{e9} \u{1f980}".to_owned(),
        "back\\slash and %_ wildcards".to_owned(),
        "'; DROP TABLE chronicle_events; --".to_owned(),
        "tab\tand\nnewline".to_owned(),
        "y".repeat(MAX_STREAM_ID_BYTES - "Order-".len()),
    ];
    for id in &ids {
        let receipt = app
            .execute(AddToOrder {
                id: id.clone(),
                item: format!("for {id}"),
            })
            .await
            .unwrap();
        assert_eq!(receipt.stream_id, format!("Order-{id}"));
        for app in [app.clone(), Chronicle::new(store.clone())] {
            let order = app.load::<Order>(id).await.unwrap();
            assert_eq!(order.state.items, [format!("for {id}")]);
            let history = app.history::<Order>(id).await.unwrap();
            assert_eq!(history[0].stream_id, receipt.stream_id);
        }
    }
    // And the bank's aggregate, whose id also lands in the read models of views.
    let account = "z".repeat(MAX_STREAM_ID_BYTES - "bank.Account-".len());
    app.execute(OpenAccount {
        account_id: account.clone(),
        owner: "O'Brien \u{1f980}".into(),
        overdraft_limit: 0,
    })
    .await
    .unwrap();
    assert!(app.load::<Account>(&account).await.unwrap().state.is_open());
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 4 + ids.len() + 1);
}
