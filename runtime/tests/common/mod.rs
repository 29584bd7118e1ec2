//! Behaviour every database store must show, written once over `EventStore` and run by
//! `store_postgres.rs` and `store_sqlite.rs` against a fresh, migrated, empty store.

#![allow(dead_code)]

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod subscription;

use chronicle::{EventStore, Metadata, NewEvent, Receipt, RecordedEvent, StoreError};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use uuid::Uuid;

/// Metadata of a command with some of everything in it, so that a roundtrip checks every field.
pub fn metadata(command_id: Uuid) -> Metadata {
    let mut extra = serde_json::Map::new();
    extra.insert("request_id".into(), json!("req-42"));
    extra.insert("nested".into(), json!({"ip": "127.0.0.1", "tags": [1, 2]}));
    Metadata {
        command_id,
        correlation_id: Uuid::new_v4(),
        causation_id: command_id,
        actor: Some("alice".into()),
        extra,
    }
}

/// An event of `command` carrying `payload`.
pub fn event(command: &Metadata, payload: Value) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "test.Happened",
        event_version: 1,
        payload: RawValue::from_string(payload.to_string()).expect("json! output is JSON"),
        metadata: command.clone(),
    }
}

/// `n` events of one fresh command.
pub fn command(n: usize) -> Vec<NewEvent> {
    let meta = metadata(Uuid::new_v4());
    (0..n).map(|i| event(&meta, json!({ "n": i }))).collect()
}

fn payload_value(event: &RecordedEvent) -> Value {
    serde_json::from_str(event.payload.get()).expect("stored payload is JSON")
}

async fn stream_len<S: EventStore>(store: &S, stream_id: &str) -> usize {
    store.read_stream(stream_id, 0).await.expect("read_stream").len()
}

pub async fn roundtrip<S: EventStore>(store: &S) {
    let meta = metadata(Uuid::new_v4());
    let payloads = [
        json!({"amount": 12.5, "currency": "EUR", "memo": "caf\u{e9} \"quoted\"\n"}),
        json!({"big": u64::MAX, "list": [1, "two", null, {"three": 3}]}),
        json!("a bare string"),
    ];
    let mut events: Vec<_> = payloads.iter().map(|p| event(&meta, p.clone())).collect();
    events[1].event_type = "test.Other";
    events[1].event_version = 7;
    let sent = events.clone();

    let receipt = store.append("account-1", 0, events).await.expect("append");
    assert_eq!(receipt.stream_id, "account-1");
    assert_eq!(receipt.stream_version, 3);

    let stored = store.read_stream("account-1", 0).await.expect("read_stream");
    assert_eq!(stored.len(), 3);
    for (i, (got, sent)) in stored.iter().zip(&sent).enumerate() {
        assert_eq!(got.stream_id, "account-1");
        assert_eq!(got.stream_version, i as u64 + 1);
        assert_eq!(got.event_id, sent.event_id);
        assert_eq!(got.event_type, sent.event_type);
        assert_eq!(got.event_version, sent.event_version);
        assert_eq!(payload_value(got), payloads[i]);
        assert_eq!(got.metadata, meta);
        let age = chrono::Utc::now() - got.recorded_at;
        assert!(
            age.num_seconds().abs() < 60,
            "recorded_at {} is not now",
            got.recorded_at
        );
    }
    assert!(stored.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(receipt.position, Some(stored[2].position));

    let tail = store
        .read_stream("account-1", 2)
        .await
        .expect("read_stream after 2");
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].stream_version, 3);
    assert!(store.read_stream("account-1", 3).await.expect("read").is_empty());
    assert!(store
        .read_stream("account-1", u64::MAX)
        .await
        .expect("read")
        .is_empty());
    assert!(store.read_stream("nobody", 0).await.expect("read").is_empty());

    let more = store
        .append("account-1", 3, command(2))
        .await
        .expect("second append");
    assert_eq!(more.stream_version, 5);
    assert!(more.position > receipt.position);
    let versions: Vec<u64> = store
        .read_stream("account-1", 0)
        .await
        .expect("read")
        .iter()
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
}

pub async fn empty_append_touches_nothing<S: EventStore>(store: &S) {
    let receipt = store.append("s", 4, Vec::new()).await.expect("empty append");
    assert_eq!(
        receipt,
        Receipt {
            stream_id: "s".into(),
            stream_version: 4,
            position: None
        }
    );
    assert!(store.read_all(0, 10).await.expect("read_all").is_empty());
}

pub async fn stale_expected_version_conflicts<S: EventStore>(store: &S) {
    store.append("s", 0, command(2)).await.expect("first append");
    for stale in [0, 1] {
        let err = store
            .append("s", stale, command(1))
            .await
            .expect_err("stale append");
        assert!(
            matches!(&err, StoreError::Conflict { stream_id, expected } if stream_id == "s" && *expected == stale),
            "{err:?}"
        );
    }
    assert_eq!(stream_len(store, "s").await, 2);
    assert_eq!(store.read_all(0, 100).await.expect("read_all").len(), 2);
}

pub async fn expected_version_ahead_conflicts<S: EventStore>(store: &S) {
    let err = store
        .append("new", 1, command(1))
        .await
        .expect_err("ahead of empty");
    assert!(matches!(err, StoreError::Conflict { expected: 1, .. }), "{err:?}");
    store.append("s", 0, command(1)).await.expect("append");
    let err = store.append("s", 5, command(2)).await.expect_err("ahead");
    assert!(matches!(err, StoreError::Conflict { expected: 5, .. }), "{err:?}");
    let err = store
        .append("s", u64::MAX, command(1))
        .await
        .expect_err("far ahead");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(stream_len(store, "new").await, 0);
    assert_eq!(stream_len(store, "s").await, 1);
}

pub async fn duplicate_event_id_is_refused<S: EventStore>(store: &S) {
    let first = command(1);
    let stored_id = first[0].event_id;
    store.append("a", 0, first.clone()).await.expect("append");

    // The same command again, on the same stream at the right version and on another stream.
    for (stream, expected) in [("a", 1), ("b", 0)] {
        let err = store
            .append(stream, expected, first.clone())
            .await
            .expect_err("duplicate");
        assert!(
            matches!(err, StoreError::DuplicateEvent { event_id } if event_id == stored_id),
            "{err:?}"
        );
    }

    // A batch whose second event collides: its first event must not be written either.
    let mut batch = command(2);
    batch[1].event_id = stored_id;
    let err = store.append("c", 0, batch).await.expect_err("duplicate in batch");
    assert!(
        matches!(err, StoreError::DuplicateEvent { event_id } if event_id == stored_id),
        "{err:?}"
    );

    // Two events with one id in the same batch.
    let mut twice = command(2);
    twice[1].event_id = twice[0].event_id;
    let repeated = twice[0].event_id;
    let err = store.append("d", 0, twice).await.expect_err("repeated in batch");
    assert!(
        matches!(err, StoreError::DuplicateEvent { event_id } if event_id == repeated),
        "{err:?}"
    );

    assert_eq!(store.read_all(0, 100).await.expect("read_all").len(), 1);
    for stream in ["b", "c", "d"] {
        assert_eq!(stream_len(store, stream).await, 0, "{stream}");
    }
}

pub async fn find_command<S: EventStore>(store: &S) {
    let events = command(3);
    let command_id = events[0].metadata.command_id;
    assert_eq!(store.find_command(command_id).await.expect("find"), None);

    store.append("other", 0, command(1)).await.expect("append");
    let receipt = store.append("s", 0, events).await.expect("append");
    store.append("s", 3, command(1)).await.expect("append");

    assert_eq!(store.find_command(command_id).await.expect("find"), Some(receipt));
    assert_eq!(store.find_command(Uuid::new_v4()).await.expect("find"), None);
}

pub async fn read_all_in_order_with_limit<S: EventStore>(store: &S) {
    store.append("a", 0, command(2)).await.expect("append");
    store.append("b", 0, command(1)).await.expect("append");
    store.append("a", 2, command(3)).await.expect("append");

    let all = store.read_all(0, 100).await.expect("read_all");
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    let order: Vec<(&str, u64)> = all
        .iter()
        .map(|e| (e.stream_id.as_str(), e.stream_version))
        .collect();
    assert_eq!(
        order,
        [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("a", 4), ("a", 5)]
    );

    let first = store.read_all(0, 2).await.expect("read_all limit");
    assert_eq!(first.len(), 2);
    assert_eq!(first[1].position, all[1].position);
    let next = store
        .read_all(first[1].position, 3)
        .await
        .expect("read_all page 2");
    let positions: Vec<u64> = next.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        all[2..5].iter().map(|e| e.position).collect::<Vec<_>>()
    );

    assert!(store.read_all(0, 0).await.expect("limit 0").is_empty());
    assert!(store
        .read_all(all[5].position, 10)
        .await
        .expect("at end")
        .is_empty());
    assert!(store
        .read_all(u64::MAX, usize::MAX)
        .await
        .expect("past end")
        .is_empty());
    assert_eq!(store.read_all(0, usize::MAX).await.expect("no limit").len(), 6);
}

/// Two writers racing for the same version: exactly one wins, the other sees a conflict.
pub async fn racing_writers_one_wins<S: EventStore>(a: &S, b: &S) {
    for round in 0..5 {
        let current = stream_len(a, "race").await as u64;
        let (x, y) = tokio::join!(
            a.append("race", current, command(2)),
            b.append("race", current, command(2))
        );
        let outcomes = [x, y];
        assert_eq!(
            outcomes.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {outcomes:?}"
        );
        for err in outcomes.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(err, StoreError::Conflict { .. }),
                "round {round}: {err:?}"
            );
        }
        assert_eq!(stream_len(a, "race").await as u64, current + 2, "round {round}");
    }
}
