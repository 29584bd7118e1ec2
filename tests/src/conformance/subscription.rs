//! `EventSource`: the gap-free subscription order, batches and their horizons, type filters,
//! counts, and listeners woken by appends.
//!
//! On Postgres an event becomes readable only once every older transaction on the server has
//! ended, and other tests (in this binary or elsewhere) hold transactions open: so readers here
//! read until what they expect has arrived, within a generous deadline, instead of expecting it
//! from the first read.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chronicle::{Checkpoint, EventSource, EventStore, RecordedEvent};
use uuid::Uuid;

use super::events::{command, ids, typed};
use crate::wait::DEADLINE;

pub const A: &str = "test.A";
pub const B: &str = "test.B";
pub const C: &str = "test.C";

pub use super::tailer::Tailer;

/// The whole log in position order.
async fn all<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    store.read_all(0, usize::MAX).await.expect("read_all")
}

pub async fn batches_in_order_with_limits<S: EventSource>(store: S) {
    store.append("a", 0, typed(&[A, B])).await.expect("append");
    store.append("b", 0, typed(&[C])).await.expect("append");
    store.append("a", 2, typed(&[A, A, B])).await.expect("append");
    let all = all(&store).await;
    assert_eq!(all.len(), 6);

    let mut tailer = Tailer::new(store.clone(), &[], 100);
    tailer.until(6).await;
    // Appends one after another: subscription order is position order.
    assert_eq!(tailer.ids(), ids(&all));
    for (read, stored) in tailer.events.iter().zip(&all) {
        assert_eq!(
            read.transaction_id, stored.transaction_id,
            "read_all fills the transaction id"
        );
        assert_eq!(read.position, stored.position);
        assert_eq!(read.stream_id, stored.stream_id);
        assert_eq!(read.stream_version, stored.stream_version);
        assert_eq!(read.event_type, stored.event_type);
        assert_eq!(read.payload.get(), stored.payload.get());
        assert_eq!(read.metadata, stored.metadata);
        assert_eq!(read.recorded_at, stored.recorded_at);
    }
    let stream = store.read_stream("a", 0).await.expect("read_stream");
    for event in &stream {
        let stored = all
            .iter()
            .find(|e| e.event_id == event.event_id)
            .expect("in read_all");
        assert_eq!(
            event.transaction_id, stored.transaction_id,
            "read_stream fills the transaction id"
        );
    }
    // The events of one append share their transaction.
    assert_eq!(stream[0].transaction_id, stream[1].transaction_id);
    assert!(stream[1].transaction_id <= stream[2].transaction_id);

    // Limits: a full batch stops at its last event.
    let first = store
        .read_batch(Checkpoint::START, &[], 2)
        .await
        .expect("read_batch");
    assert_eq!(ids(&first.events), ids(&all[..2]));
    assert_eq!(first.horizon, Checkpoint::of(&all[1]));
    let next = store.read_batch(first.horizon, &[], 3).await.expect("read_batch");
    assert_eq!(ids(&next.events), ids(&all[2..5]));
    assert_eq!(next.horizon, Checkpoint::of(&all[4]));
    let rest = store.read_batch(next.horizon, &[], 3).await.expect("read_batch");
    assert_eq!(ids(&rest.events), ids(&all[5..]));
    assert!(rest.horizon >= Checkpoint::of(&all[5]));

    // Nothing left, and nothing from limit 0.
    let end = store.read_batch(rest.horizon, &[], 10).await.expect("read_batch");
    assert!(end.events.is_empty());
    assert!(end.horizon >= rest.horizon);
    let none = store
        .read_batch(Checkpoint::START, &[], 0)
        .await
        .expect("limit 0");
    assert!(none.events.is_empty());
    assert_eq!(none.horizon, Checkpoint::START);
    let unlimited = store
        .read_batch(Checkpoint::START, &[], usize::MAX)
        .await
        .expect("no limit");
    assert_eq!(ids(&unlimited.events), ids(&all));

    // From the middle of the log, and from beyond its end.
    let middle = Checkpoint::of(&all[2]);
    let from_middle = store.read_batch(middle, &[], 100).await.expect("read_batch");
    assert_eq!(ids(&from_middle.events), ids(&all[3..]));
    let beyond = Checkpoint {
        transaction_id: u64::MAX,
        position: u64::MAX,
    };
    let past = store.read_batch(beyond, &[], 100).await.expect("read_batch");
    assert!(past.events.is_empty());
    assert_eq!(
        past.horizon, beyond,
        "the horizon never goes below the checkpoint"
    );

    // What comes next is read from the horizon, and only that, once.
    store.append("c", 0, typed(&[B])).await.expect("append");
    let mut tailer = Tailer::new(store.clone(), &[], 100).from(end.horizon);
    tailer.until(1).await;
    assert_eq!(tailer.events[0].stream_id, "c");
    tailer.reads_nothing(3).await;
    assert_eq!(tailer.events.len(), 1);
}

pub async fn type_filter_runs_in_the_store_and_still_advances<S: EventSource>(store: S) {
    store.append("s", 0, typed(&[A, B, A])).await.expect("append");
    store.append("t", 0, typed(&[C, B])).await.expect("append");
    store.append("s", 3, typed(&[C, C])).await.expect("append");
    let all = all(&store).await;
    let last = Checkpoint::of(all.last().expect("events"));
    let of = |types: &[&str]| -> Vec<Uuid> {
        all.iter()
            .filter(|e| types.contains(&e.event_type.as_str()))
            .map(|e| e.event_id)
            .collect()
    };

    for types in [&[B][..], &[A, C][..], &[C][..], &[A, B, C][..]] {
        let mut tailer = Tailer::new(store.clone(), types, 100);
        tailer.until_checkpoint(last).await;
        assert_eq!(tailer.ids(), of(types), "{types:?}");
    }

    // Filtered-out events still move the subscriber on: with no matching event at all, its
    // checkpoint passes the whole log.
    let mut nothing = Tailer::new(store.clone(), &["test.Nope"], 100);
    nothing.until_checkpoint(last).await;
    assert!(nothing.events.is_empty());
    assert!(nothing.reads >= 1);
    // The filtered-out C events at the end are passed as well.
    let mut only_b = Tailer::new(store.clone(), &[B], 100);
    only_b.until_checkpoint(last).await;
    let b_events = of(&[B]);
    let last_b = all
        .iter()
        .rfind(|e| e.event_type == B)
        .map(Checkpoint::of)
        .expect("a B");
    assert!(only_b.checkpoint > last_b);

    // A full filtered batch stops at its last event, not at the events it skipped.
    let batch = store
        .read_batch(Checkpoint::START, &[B], 1)
        .await
        .expect("read_batch");
    assert_eq!(ids(&batch.events), b_events[..1]);
    assert_eq!(batch.horizon, Checkpoint::of(&batch.events[0]));
    let batch = store
        .read_batch(batch.horizon, &[B], 1)
        .await
        .expect("read_batch");
    assert_eq!(ids(&batch.events), b_events[1..]);
    let batch = store
        .read_batch(batch.horizon, &[B], 1)
        .await
        .expect("read_batch");
    assert!(batch.events.is_empty());
    assert!(batch.horizon >= last);
}

/// A type name with quotes, brackets and SQL wildcards is matched literally, never as a pattern.
pub async fn the_type_filter_takes_odd_type_names_literally<S: EventSource>(store: S) {
    let odd: &'static str = "it's \"odd\", [really] %_";
    store.append("s", 0, typed(&[odd, A])).await.expect("append");
    let all = all(&store).await;
    let mut tailer = Tailer::new(store.clone(), &[odd], 10);
    tailer.until_checkpoint(Checkpoint::of(&all[1])).await;
    assert_eq!(tailer.events.len(), 1);
    assert_eq!(tailer.events[0].event_type, odd);
    for pattern in ["%", "_", "it's%", "test.%"] {
        assert_eq!(
            store
                .progress(Checkpoint::START, &[pattern])
                .await
                .expect("progress")
                .readable,
            0,
            "{pattern}"
        );
    }
}

pub async fn paging_reaches_everything_exactly_once<S: EventSource>(store: S) {
    let types = [A, B, C];
    let mut versions = [0_u64; 3];
    for i in 0..25_usize {
        let stream = i % 3;
        let size = 1 + i % 3;
        let command: Vec<_> = (0..size).map(|j| types[(i + j) % 3]).collect();
        let receipt = store
            .append(&format!("p{stream}"), versions[stream], typed(&command))
            .await
            .expect("append");
        versions[stream] = receipt.stream_version;
    }
    let all = all(&store).await;
    assert_eq!(all.len(), (0..25).map(|i| 1 + i % 3).sum::<usize>());
    let last = Checkpoint::of(all.last().expect("events"));
    for limit in [1, 2, 3, 7, 48, 49, 50, 1000] {
        let mut tailer = Tailer::new(store.clone(), &[], limit);
        tailer.until(all.len()).await;
        tailer.until_checkpoint(last).await;
        assert_eq!(tailer.ids(), ids(&all), "limit {limit}");
        for filter in [&[A][..], &[B, C][..]] {
            let mut tailer = Tailer::new(store.clone(), filter, limit);
            tailer.until_checkpoint(last).await;
            let expected: Vec<Uuid> = all
                .iter()
                .filter(|e| filter.contains(&e.event_type.as_str()))
                .map(|e| e.event_id)
                .collect();
            assert_eq!(tailer.ids(), expected, "limit {limit}, types {filter:?}");
        }
    }
}

pub async fn head_count_and_checkpoint_of<S: EventSource>(store: S) {
    let empty = store.head().await.expect("head");
    assert_eq!(empty.position, None);
    assert_eq!(empty.recorded_at, None);
    assert_eq!(
        store
            .progress(Checkpoint::START, &[])
            .await
            .expect("progress")
            .readable,
        0
    );
    assert_eq!(store.checkpoint_of(1).await.expect("checkpoint_of"), None);

    store.append("s", 0, typed(&[A, A])).await.expect("append");
    store.append("t", 0, typed(&[B])).await.expect("append");
    store.append("s", 2, typed(&[A, C])).await.expect("append");
    let all = all(&store).await;
    let last = all.last().expect("events");
    // Counts only cover what subscribers can read: wait until that is everything.
    Tailer::new(store.clone(), &[], 100).until(all.len()).await;

    let head = store.head().await.expect("head");
    assert_eq!(head.position, Some(last.position));
    assert_eq!(head.recorded_at, Some(last.recorded_at));
    assert!(head.checkpoint >= Checkpoint::of(last), "{head:?}");
    assert!(head.checkpoint >= empty.checkpoint);

    let store = &store;
    let count = |after: Checkpoint, types: &'static [&'static str]| async move {
        store.progress(after, types).await.expect("progress").readable
    };
    assert_eq!(count(Checkpoint::START, &[]).await, 5);
    assert_eq!(count(Checkpoint::START, &[A]).await, 3);
    assert_eq!(count(Checkpoint::START, &[B, C]).await, 2);
    assert_eq!(count(Checkpoint::START, &["test.Nope"]).await, 0);
    assert_eq!(count(Checkpoint::of(&all[1]), &[A]).await, 1);
    assert_eq!(count(Checkpoint::of(&all[1]), &[]).await, 3);
    assert_eq!(count(Checkpoint::of(last), &[]).await, 0);
    assert_eq!(count(head.checkpoint, &[]).await, 0);

    for event in &all {
        assert_eq!(
            store.checkpoint_of(event.position).await.expect("checkpoint_of"),
            Some(Checkpoint::of(event))
        );
    }
    assert_eq!(store.checkpoint_of(0).await.expect("checkpoint_of"), None);
    assert_eq!(
        store
            .checkpoint_of(last.position + 1)
            .await
            .expect("checkpoint_of"),
        None
    );
    assert_eq!(store.checkpoint_of(u64::MAX).await.expect("checkpoint_of"), None);
}

/// Four tasks append while a subscriber tails with small batches: it sees every event once, in
/// subscription order, and ends where the log ends.
pub async fn a_subscriber_tailing_concurrent_writers_sees_every_event_once<S: EventSource>(store: S) {
    let mut writers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut version = 0;
            for i in 0..50 {
                let receipt = store
                    .append(&format!("w{w}"), version, command(1 + i % 2))
                    .await
                    .expect("append");
                version = receipt.stream_version;
            }
            version as usize
        }));
    }
    let mut tailer = Tailer::new(store.clone(), &[], 7);
    let mut listener = store.listen().await.expect("listen");
    let mut total = None;
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE, "{} events read", tailer.events.len());
        if tailer.step().await == 0 {
            if let Some(total) = total {
                if tailer.events.len() >= total {
                    break;
                }
            }
            // Woken by the next append, or read again after a while: a subscriber's loop.
            listener.wait(Duration::from_millis(50)).await;
        }
        if total.is_none() && writers.iter().all(|w| w.is_finished()) {
            let mut sum = 0;
            for writer in writers.drain(..) {
                sum += writer.await.expect("writer");
            }
            total = Some(sum);
        }
    }
    let all = all(&store).await;
    assert_eq!(all.len(), 4 * 75);
    // Every event once (the tailer checks that on every read), and all of them.
    let read: HashSet<Uuid> = tailer.ids().into_iter().collect();
    assert_eq!(read, ids(&all).into_iter().collect::<HashSet<_>>());
    tailer.reads_nothing(2).await;
}

pub async fn a_listener_wakes_on_append<S: EventSource>(store: S) {
    let mut listener = store.listen().await.expect("listen");
    let mut on_a_clone = store.clone().listen().await.expect("listen on a clone");
    let writer = store.clone();
    let append = tokio::spawn(async move {
        // The scenario: the append comes while the listener is already waiting.
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer.append("s", 0, command(2)).await.expect("append");
    });
    let start = Instant::now();
    assert!(
        listener.wait(Duration::from_secs(20)).await,
        "not woken by an append"
    );
    let woken_after = start.elapsed();
    assert!(
        woken_after < Duration::from_secs(5),
        "woken only after {woken_after:?}"
    );
    append.await.expect("append task");
    assert!(
        on_a_clone.wait(Duration::from_secs(5)).await,
        "a clone's listener not woken"
    );

    // Woken again by the next append, not before: a wait with nothing appended times out (the
    // listener's own timeout is what is tested here), then an append wakes it.
    assert!(
        !listener.wait(Duration::from_millis(200)).await,
        "woken without an append"
    );
    store.append("s", 2, command(1)).await.expect("append");
    assert!(
        listener.wait(Duration::from_secs(5)).await,
        "not woken by the second append"
    );
}

/// A wait with nothing appended returns `false` when its timeout has passed, not before and not
/// much later: the timeout is the behaviour under test.
pub async fn a_listener_times_out_without_appends<S: EventSource>(store: S) {
    let mut listener = store.listen().await.expect("listen");
    for _ in 0..2 {
        let start = Instant::now();
        assert!(
            !listener.wait(Duration::from_millis(250)).await,
            "woken without an append"
        );
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(240), "returned after {waited:?}");
        assert!(waited < Duration::from_secs(3), "returned only after {waited:?}");
    }
}
