//! The write model, through `EventStore` directly: appends and their optimistic check, duplicate
//! event ids, reads of a stream and of the log, commands found again by id, and the snapshot
//! table.

use chronicle::{EventStore, Receipt, Snapshot, StoreError};
use serde_json::json;
use uuid::Uuid;

use super::events::{command, event, metadata, payload_value};

async fn stream_len<S: EventStore>(store: &S, stream_id: &str) -> usize {
    store.read_stream(stream_id, 0).await.expect("read_stream").len()
}

/// What a load reads of a stream (`read_stream_payloads`, light on the built-in stores) is what
/// the whole read holds, column for column, from any version on.
pub async fn the_light_stream_read_matches_the_whole_one<S: EventStore>(store: S) {
    let meta = metadata(Uuid::new_v4());
    let mut events = command(3);
    events[1].event_type = "test.Other";
    events[1].event_version = 4;
    events[2].payload =
        serde_json::value::to_raw_value(&json!({"memo": "caf\u{e9} \"q\"", "n": [1, 2]})).expect("json");
    store.append("light-1", 0, events).await.expect("append");
    store.append("light-2", 0, command(1)).await.expect("append");
    store
        .append("light-1", 3, vec![event(&meta, json!({"last": true}))])
        .await
        .expect("append");
    for after in [0, 2, 4, u64::MAX] {
        let whole = store.read_stream("light-1", after).await.expect("read_stream");
        let light = store
            .read_stream_payloads("light-1", after)
            .await
            .expect("read_stream_payloads");
        assert_eq!(light.len(), whole.len(), "after {after}");
        for (light, whole) in light.iter().zip(&whole) {
            assert_eq!(light.position, whole.position);
            assert_eq!(light.stream_version, whole.stream_version);
            assert_eq!(light.event_type, whole.event_type);
            assert_eq!(light.event_version, whole.event_version);
            assert_eq!(light.payload.get(), whole.payload.get());
            assert_eq!(light.recorded_at, whole.recorded_at);
        }
    }
    assert_eq!(
        store
            .read_stream_payloads("light-1", 0)
            .await
            .expect("read")
            .len(),
        4
    );
    assert!(store
        .read_stream_payloads("nobody", 0)
        .await
        .expect("read")
        .is_empty());
}

pub async fn roundtrip<S: EventStore>(store: S) {
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

pub async fn empty_append_touches_nothing<S: EventStore>(store: S) {
    let receipt = store.append("s", 4, Vec::new()).await.expect("empty append");
    assert_eq!(
        receipt,
        Receipt {
            tenant: String::new(),
            stream_id: "s".into(),
            stream_version: 4,
            position: None
        }
    );
    assert!(store.read_all(0, 10).await.expect("read_all").is_empty());
}

pub async fn stale_expected_version_conflicts<S: EventStore>(store: S) {
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
    assert_eq!(stream_len(&store, "s").await, 2);
    assert_eq!(store.read_all(0, 100).await.expect("read_all").len(), 2);
}

pub async fn expected_version_ahead_conflicts<S: EventStore>(store: S) {
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
    assert_eq!(stream_len(&store, "new").await, 0);
    assert_eq!(stream_len(&store, "s").await, 1);
}

pub async fn duplicate_event_id_is_refused<S: EventStore>(store: S) {
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

    assert_eq!(store.read_all(0, 100).await.expect("read_all").len(), 1);
    for stream in ["b", "c"] {
        assert_eq!(stream_len(&store, stream).await, 0, "{stream}");
    }
}

/// One append carrying two events with the same id is refused whole, as a collision with a
/// stored event is.
pub async fn two_events_with_one_id_in_one_append_are_refused<S: EventStore>(store: S) {
    let mut twice = command(3);
    twice[2].event_id = twice[0].event_id;
    let repeated = twice[0].event_id;
    let err = store.append("d", 0, twice).await.expect_err("repeated in batch");
    assert!(
        matches!(err, StoreError::DuplicateEvent { event_id } if event_id == repeated),
        "{err:?}"
    );
    assert_eq!(stream_len(&store, "d").await, 0);
    assert!(store.read_all(0, 100).await.expect("read_all").is_empty());
}

/// A command of thousands of events (more than one SQL statement can bind) is stored whole, and a
/// collision in its last part undoes the parts before.
pub async fn a_large_command_is_appended_whole_or_not_at_all<S: EventStore>(store: S) {
    let receipt = store.append("big", 0, command(2500)).await.expect("append");
    assert_eq!(receipt.stream_version, 2500);
    let stored = store.read_stream("big", 0).await.expect("read");
    assert_eq!(stored.len(), 2500);
    assert_eq!(receipt.position, Some(stored[2499].position));

    let mut events = command(2500);
    events[2400].event_id = stored[0].event_id;
    let err = store.append("big2", 0, events).await.expect_err("duplicate");
    assert!(
        matches!(err, StoreError::DuplicateEvent { event_id } if event_id == stored[0].event_id),
        "{err:?}"
    );
    assert!(store.read_stream("big2", 0).await.expect("read").is_empty());
    assert_eq!(store.read_all(0, usize::MAX).await.expect("read_all").len(), 2500);
}

pub async fn find_command<S: EventStore>(store: S) {
    let events = command(3);
    let command_id = events[0].metadata.command_id;
    assert_eq!(store.find_command(command_id).await.expect("find"), None);

    store.append("other", 0, command(1)).await.expect("append");
    let receipt = store.append("s", 0, events).await.expect("append");
    store.append("s", 3, command(1)).await.expect("append");

    assert_eq!(store.find_command(command_id).await.expect("find"), Some(receipt));
    assert_eq!(store.find_command(Uuid::new_v4()).await.expect("find"), None);
}

pub async fn read_all_in_order_with_limit<S: EventStore>(store: S) {
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

/// Two writers racing for the same version through clones of one store: exactly one wins, the
/// other sees a conflict. (`race` takes two stores, for backends that can open a second one on
/// the same events, as a second process would.)
pub async fn racing_writers_one_wins<S: EventStore>(store: S) {
    race(&store, &store.clone()).await;
}

/// Two writers, `a` and `b`, racing for the same version of one stream, five times.
pub async fn race<S: EventStore>(a: &S, b: &S) {
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

fn snapshot(
    stream_id: &str,
    stream_version: u64,
    snapshot_version: u32,
    state: serde_json::Value,
) -> Snapshot {
    Snapshot {
        stream_id: stream_id.into(),
        aggregate_type: "test.Counter".into(),
        snapshot_version,
        stream_version,
        state: serde_json::value::to_raw_value(&state).expect("JSON"),
        taken_at: chrono::Utc::now(),
    }
}

/// The snapshot table keeps the newest snapshot per stream: a write at the same or a higher
/// stream version replaces it, whatever its shape's version; a late one at a lower version
/// does not.
pub async fn the_snapshot_table_keeps_the_newest_per_stream<S: EventStore>(store: S) {
    assert!(store.read_snapshot("c-1").await.expect("read").is_none());
    store
        .write_snapshot(snapshot("c-1", 5, 1, json!({"n": 5})))
        .await
        .expect("write");
    let read = store.read_snapshot("c-1").await.expect("read").expect("stored");
    assert_eq!(
        (read.stream_id.as_str(), read.aggregate_type.as_str()),
        ("c-1", "test.Counter")
    );
    assert_eq!((read.stream_version, read.snapshot_version), (5, 1));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(read.state.get()).unwrap(),
        json!({"n": 5})
    );
    assert!((chrono::Utc::now() - read.taken_at).num_seconds().abs() < 60);

    // Higher: replaces. Same version, other shape: replaces. Lower, whatever the shape: kept.
    for (written, kept) in [
        ((10, 1, json!({"n": 10})), (10, 1, json!({"n": 10}))),
        ((10, 2, json!({"m": 10})), (10, 2, json!({"m": 10}))),
        ((7, 2, json!({"m": 7})), (10, 2, json!({"m": 10}))),
        ((7, 3, json!({"k": 7})), (10, 2, json!({"m": 10}))),
    ] {
        let (stream_version, snapshot_version, state) = written.clone();
        store
            .write_snapshot(snapshot("c-1", stream_version, snapshot_version, state))
            .await
            .expect("write");
        let stored = store.read_snapshot("c-1").await.expect("read").expect("stored");
        let state: serde_json::Value = serde_json::from_str(stored.state.get()).expect("JSON");
        assert_eq!(
            (stored.stream_version, stored.snapshot_version, state),
            kept,
            "after writing {written:?}"
        );
    }

    // Streams keep their own; the table is not the log.
    store
        .write_snapshot(snapshot("c-2", 1, 1, json!(null)))
        .await
        .expect("write");
    assert_eq!(
        store.read_snapshot("c-2").await.unwrap().unwrap().stream_version,
        1
    );
    assert_eq!(
        store.read_snapshot("c-1").await.unwrap().unwrap().stream_version,
        10
    );
    assert!(store.read_snapshot("c-3").await.unwrap().is_none());
    assert!(store.read_all(0, 10).await.unwrap().is_empty());
}
