//! Input limits (issue 10, #13): what no store can keep is refused by every store alike, with the
//! same typed error, before the store sees it: a stream id of more than
//! [`MAX_STREAM_ID_BYTES`] bytes, an empty one or one with a NUL
//! character ([`StoreError::InvalidStreamId`]), a NUL in a payload's strings or in the metadata
//! ([`StoreError::InvalidEvent`]); through `EventStore::append` and through `Chronicle`. What is
//! within the limits works everywhere: a stream id of exactly 1024 bytes, unicode, quotes. A
//! payload of more than [`MAX_PAYLOAD_BYTES`], or with an escape that stands for no character (a
//! lone UTF-16 surrogate), is refused alike; a 5 MB payload, and odd text (emoji, right-to-left
//! marks, combining marks, quotes, backslashes, control characters) in stream ids, payloads and
//! metadata round-trip exactly on every store.

use bank::{Account, OpenAccount};
use chronicle::prelude::*;
use chronicle::{check_stream_id, NewEvent, Snapshot, StoreError, MAX_PAYLOAD_BYTES, MAX_STREAM_ID_BYTES};
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
            "\u{1f980}".repeat(10 * 1024 / 4),
            "a stream id has at most 1024 bytes",
        ),
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
        // What a tenant's stream key would look like (`tenant_stream_key`).
        (
            "acme\u{1f}Account-1".to_owned(),
            "a stream id cannot contain U+001F (the unit separator), which separates a tenant from a stream id in keys",
        ),
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

const TOO_LARGE: &str = "its payload is larger than MAX_PAYLOAD_BYTES (16 MiB of JSON text)";
const LONE_SURROGATE: &str =
    "its payload contains a lone UTF-16 surrogate escape (such as `\\ud800`), which is no character";

/// Text that is hard on stores and drivers: every one must come back exactly as it went in.
fn odd_texts() -> Vec<String> {
    vec![
        // A family emoji (zero-width joiners) and a flag (regional indicators).
        "\u{1f469}\u{200d}\u{1f469}\u{200d}\u{1f467} \u{1f1e9}\u{1f1ea} \u{1f980}".into(),
        // Right-to-left text, a right-to-left mark and an override.
        "\u{645}\u{631}\u{62d}\u{628}\u{627} \u{5e9}\u{5dc}\u{5d5}\u{5dd}\u{200f} \u{202e}txet\u{202c}"
            .into(),
        // Combining marks: `e` + U+0301 is not the precomposed `é`, and stays so.
        "e\u{301}".into(),
        "\u{e9}".into(),
        "Z\u{351}\u{34c}\u{336}\u{35c}a\u{31b}\u{327}\u{32f}l\u{33e}\u{310}go".into(),
        // Quotes, backslashes and what only looks like an escape.
        "O'Brien \"quoted\" `back` \\ \\\\ \\u0000 \\n \\\"".into(),
        // Control characters, a byte-order mark, a noncharacter, the last code point.
        "\u{1}\u{8}\t\r\n\u{1b}[0m\u{7f}\u{85}".into(),
        "\u{feff}bom \u{fffe}\u{ffff} \u{10ffff}".into(),
        // SQL, LIKE and glob syntax.
        "'; DROP TABLE chronicle_events; -- %_ * ? [a-z] $1".into(),
    ]
}

pub async fn large_payloads_and_odd_text_round_trip_or_fail_alike<S: EventStore>(store: S) {
    let spy = Spy::new(store.clone());
    let meta = metadata(Uuid::new_v4());
    let raw = |payload: String| NewEvent {
        payload: RawValue::from_string(payload).unwrap(),
        ..event(&meta, json!(null))
    };

    // What no store keeps is refused before any store: too large, or a lone surrogate.
    let blob = |bytes: usize| format!(r#"{{"blob":"{}"}}"#, "x".repeat(bytes - r#"{"blob":""}"#.len()));
    assert_eq!(blob(MAX_PAYLOAD_BYTES + 1).len(), MAX_PAYLOAD_BYTES + 1);
    for (payload, rule) in [
        (blob(MAX_PAYLOAD_BYTES + 1), TOO_LARGE),
        (r#"{"text":"\ud800"}"#.to_owned(), LONE_SURROGATE),
        (r#"{"text":"\udd80\ud83e"}"#.to_owned(), LONE_SURROGATE),
    ] {
        for target in [&spy as &dyn Target, &store as &dyn Target] {
            let error = target.append_one(raw(payload.clone())).await.unwrap_err();
            assert_invalid_event(&error, "test.Happened", rule);
        }
    }
    assert_eq!(spy.appends(), 0, "no refused event reached the store");

    // The largest payload is kept, and a 5 MB one of odd text round-trips exactly.
    let receipt = store
        .append("limits-largest", 0, vec![raw(blob(MAX_PAYLOAD_BYTES))])
        .await
        .unwrap();
    assert_eq!(receipt.stream_version, 1);
    let odd = odd_texts().concat();
    let five_mb = 5 * 1024 * 1024;
    let mut text = String::with_capacity(five_mb + 4);
    for c in odd.chars().cycle() {
        if text.len() >= five_mb {
            break;
        }
        text.push(c);
    }
    let large = json!({ "text": text, "escaped_pair": "\u{1f980}", "n": 1 });
    let large_event = event(&meta, large.clone());
    assert!(
        large_event.payload.get().len() > five_mb,
        "{}",
        large_event.payload.get().len()
    );
    store.append("limits-large", 0, vec![large_event]).await.unwrap();
    // A surrogate pair written as escapes is one character, and reads back as it.
    store
        .append(
            "limits-pair",
            0,
            vec![raw(r#"{"text":"\ud83e\udd80"}"#.to_owned())],
        )
        .await
        .unwrap();
    let read = store.read_stream("limits-large", 0).await.unwrap();
    let value: serde_json::Value = serde_json::from_str(read[0].payload.get()).unwrap();
    assert!(value == large, "the 5 MB payload came back changed");
    let pair = store.read_stream("limits-pair", 0).await.unwrap();
    let value: serde_json::Value = serde_json::from_str(pair[0].payload.get()).unwrap();
    assert_eq!(value, json!({ "text": "\u{1f980}" }));
    let largest = store.read_stream("limits-largest", 0).await.unwrap();
    // (Postgres gives its `jsonb` rendering back, a space after the `:`: compared as JSON.)
    let value: serde_json::Value = serde_json::from_str(largest[0].payload.get()).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&blob(MAX_PAYLOAD_BYTES)).unwrap();
    assert!(value == expected, "the largest payload came back changed");

    // Odd text in the stream id, the payload, the actor and the extra metadata's keys and values.
    let mut expected = Vec::new();
    for (index, text) in odd_texts().into_iter().enumerate() {
        let stream = format!("odd-{text}");
        let mut meta = metadata(Uuid::new_v4());
        meta.actor = Some(text.clone());
        meta.extra.insert(text.clone(), json!(text));
        meta.extra.insert("list".into(), json!([text, {"nested": text}]));
        let payload = json!({ "text": text, "index": index });
        let receipt = store
            .append(&stream, 0, vec![event(&meta, payload.clone())])
            .await
            .unwrap();
        assert_eq!(receipt.stream_id, stream);
        assert_eq!(store.find_command(meta.command_id).await.unwrap(), Some(receipt));
        let caused = store.read_by_correlation(meta.correlation_id).await.unwrap();
        assert_eq!(caused.len(), 1, "{text:?}");
        expected.push((stream, payload, meta));
    }
    for (stream, payload, meta) in &expected {
        // Read back by its id (`e` + U+0301 and `é` are two streams), and in the log.
        let read = store.read_stream(stream, 0).await.unwrap();
        assert_eq!(read.len(), 1, "{stream:?}");
        let value: serde_json::Value = serde_json::from_str(read[0].payload.get()).unwrap();
        assert_eq!((&read[0].stream_id, &value), (stream, payload));
        assert_eq!(read[0].metadata, *meta, "{stream:?}");
    }
    let log = store.read_all(0, 100).await.unwrap();
    let in_log: Vec<&str> = log
        .iter()
        .filter(|e| e.stream_id.starts_with("odd-"))
        .map(|e| e.stream_id.as_str())
        .collect();
    let streams: Vec<&str> = expected.iter().map(|(stream, _, _)| stream.as_str()).collect();
    assert_eq!(in_log, streams);
}

/// An append of one event to a new stream, through the store or a spy on it.
trait Target: Sync {
    fn append_one(&self, event: NewEvent)
        -> chronicle::BoxFuture<'_, Result<chronicle::Receipt, StoreError>>;
}

impl<S: EventStore> Target for S {
    fn append_one(
        &self,
        event: NewEvent,
    ) -> chronicle::BoxFuture<'_, Result<chronicle::Receipt, StoreError>> {
        Box::pin(self.append("limits-refused", 0, vec![event]))
    }
}
