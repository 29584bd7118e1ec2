//! Snapshots through `Chronicle`: taken in the background every N events, used when loading,
//! ignored and replaced when they are of another shape or unreadable, and never a reason for a
//! command to fail or wait.

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::Snapshot;
use serde::{Deserialize, Serialize};

use crate::spy::Spy;
use crate::wait::{eventually, DEADLINE};

// ANCHOR: tally
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "tally.Added")]
pub struct Added {
    pub n: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Tally)]
pub struct Add {
    #[id]
    pub tally_id: String,
    pub n: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

/// The state is what a snapshot stores, so it derives `Serialize` and `Deserialize`.
#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Tally {
    total: i64,
    count: u64,
}

#[aggregate(name = "test.Tally", snapshot_every = 5, snapshot_version = 1)]
impl Tally {
    #[handle]
    fn add(&self, command: &Add) -> Result<Added, Never> {
        Ok(Added { n: command.n })
    }

    #[apply]
    fn added(&mut self, event: &Added) {
        self.total += event.n;
        self.count += 1;
    }
}
// ANCHOR_END: tally

impl Tally {
    /// The sum of everything added.
    pub fn total(&self) -> i64 {
        self.total
    }
}

/// The same aggregate after its state changed shape: `snapshot_version` went up.
#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct TallyV2 {
    sum: i64,
    events: u64,
    last: i64,
}

#[aggregate(name = "test.Tally", snapshot_every = 5, snapshot_version = 2)]
impl TallyV2 {
    #[apply]
    fn added(&mut self, event: &Added) {
        self.sum += event.n;
        self.events += 1;
        self.last = event.n;
    }
}

/// The same stream read without snapshots: the reference.
#[derive(Default, Clone, Debug)]
pub struct Plain {
    total: i64,
}

#[aggregate(name = "test.Tally")]
impl Plain {
    #[apply]
    fn added(&mut self, event: &Added) {
        self.total += event.n;
    }
}

/// The stream of the tally the scenarios count on.
pub const STREAM: &str = "test.Tally-t-1";

/// Adds `from..=to` to the tally, one command each.
pub async fn add_up_to<S: EventStore>(app: &Chronicle<S>, from: i64, to: i64) {
    for n in from..=to {
        app.execute(Add {
            tally_id: "t-1".into(),
            n,
        })
        .await
        .unwrap();
    }
}

/// Waits until the stream's snapshot satisfies `ready` (they are written in the background).
pub async fn wait_for_snapshot<S: EventStore>(store: &S, ready: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let ready = &ready;
    eventually("the expected snapshot", DEADLINE, || async move {
        store
            .read_snapshot(STREAM)
            .await
            .unwrap()
            .filter(|snapshot| ready(snapshot))
    })
    .await
}

/// Waits until the snapshot writes begun through `spy` are `expected`, in any order, and fails
/// if one more has begun.
async fn wait_for_writes<S>(spy: &Spy<S>, expected: &[u64]) {
    let writes = eventually("the snapshot writes", DEADLINE, || async move {
        let writes = spy.snapshot_writes();
        (writes.len() >= expected.len()).then_some(writes)
    })
    .await;
    let mut sorted = writes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "snapshot writes begun: {writes:?}");
}

pub async fn snapshots_are_taken_every_n_events_and_used_when_loading<S: EventStore>(store: S) {
    let spy = Spy::new(store.clone());
    let app = Chronicle::new(spy.clone());
    add_up_to(&app, 1, 12).await;
    // Taken after the 5th and the 10th event; the newest wins whatever order they land in.
    let snapshot = wait_for_snapshot(&store, |s| s.stream_version == 10).await;
    // And at no other event: the spy saw every write begin. (A write decided by an earlier
    // command was spawned before these two, by a command that returned before them.)
    wait_for_writes(&spy, &[5, 10]).await;
    assert_eq!(
        (snapshot.aggregate_type.as_str(), snapshot.snapshot_version),
        ("test.Tally", 1)
    );
    let state: serde_json::Value = serde_json::from_str(snapshot.state.get()).unwrap();
    assert_eq!(state, serde_json::json!({"total": 55, "count": 10}));
    assert!(snapshot.taken_at <= chrono::Utc::now());

    let loaded = app.load::<Tally>("t-1").await.unwrap();
    assert_eq!(loaded.snapshot, Some(10), "loading starts at the snapshot");
    assert_eq!(
        (loaded.state.total, loaded.state.count, loaded.version),
        (78, 12, 12)
    );
    let reference = app.load::<Plain>("t-1").await.unwrap();
    assert_eq!(
        (reference.state.total, reference.version, reference.snapshot),
        (78, 12, None)
    );

    // A stale write never replaces a newer snapshot: of the same shape, nor of another (a write
    // from before a deploy that lands late).
    for snapshot_version in [snapshot.snapshot_version, snapshot.snapshot_version + 1] {
        store
            .write_snapshot(Snapshot {
                stream_version: 5,
                snapshot_version,
                ..snapshot.clone()
            })
            .await
            .unwrap();
        let stored = store.read_snapshot(STREAM).await.unwrap().unwrap();
        assert_eq!(
            (stored.stream_version, stored.snapshot_version),
            (10, snapshot.snapshot_version)
        );
    }

    // Commands decide on the state loaded from the snapshot, and keep taking snapshots.
    add_up_to(&app, 13, 15).await;
    wait_for_snapshot(&store, |s| s.stream_version == 15).await;
    wait_for_writes(&spy, &[5, 10, 15]).await;
    let loaded = app.load::<Tally>("t-1").await.unwrap();
    assert_eq!(
        (loaded.state.total, loaded.version, loaded.snapshot),
        (120, 15, Some(15))
    );
}

pub async fn a_snapshot_of_another_version_is_ignored_and_replaced<S: EventStore>(store: S) {
    let app = Chronicle::new(store.clone());
    add_up_to(&app, 1, 12).await;
    wait_for_snapshot(&store, |s| s.stream_version == 10).await;

    // The new code's state has another shape: the version-1 snapshot is not read as it.
    let loaded = app.load::<TallyV2>("t-1").await.unwrap();
    assert_eq!(loaded.snapshot, None);
    assert_eq!(
        (
            loaded.state.sum,
            loaded.state.events,
            loaded.state.last,
            loaded.version
        ),
        (78, 12, 12, 12)
    );
    let replaced = wait_for_snapshot(&store, |s| s.snapshot_version == 2).await;
    assert_eq!(replaced.stream_version, 12);
    let loaded = app.load::<TallyV2>("t-1").await.unwrap();
    assert_eq!((loaded.snapshot, loaded.state.sum), (Some(12), 78));
}

pub async fn an_unreadable_snapshot_is_ignored_and_replaced<S: EventStore>(store: S) {
    let app = Chronicle::new(store.clone());
    add_up_to(&app, 1, 7).await;
    wait_for_snapshot(&store, |s| s.stream_version == 5).await;
    // Same aggregate and version, but JSON the state cannot be read from.
    store
        .write_snapshot(Snapshot {
            stream_id: STREAM.into(),
            aggregate_type: "test.Tally".into(),
            snapshot_version: 1,
            stream_version: 7,
            state: serde_json::value::to_raw_value(&serde_json::json!({"total": "lots"})).unwrap(),
            taken_at: chrono::Utc::now(),
        })
        .await
        .unwrap();

    let loaded = app.load::<Tally>("t-1").await.unwrap();
    assert_eq!(loaded.snapshot, None, "an unreadable snapshot is never used");
    assert_eq!((loaded.state.total, loaded.version), (28, 7));
    // Replaced by a readable one.
    wait_for_snapshot(&store, |s| s.state.get().contains("\"count\"")).await;
    let loaded = app.load::<Tally>("t-1").await.unwrap();
    assert_eq!((loaded.snapshot, loaded.state.total), (Some(7), 28));

    // A command on top of an unreadable snapshot decides on the right state too.
    store
        .write_snapshot(Snapshot {
            stream_id: STREAM.into(),
            aggregate_type: "test.Tally".into(),
            snapshot_version: 1,
            stream_version: 7,
            state: serde_json::value::to_raw_value(&[1, 2, 3]).unwrap(),
            taken_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    add_up_to(&app, 8, 8).await;
    let loaded = app.load::<Plain>("t-1").await.unwrap();
    assert_eq!((loaded.state.total, loaded.version), (36, 8));
}

pub async fn time_travel_uses_a_snapshot_only_at_or_before_the_version<S: EventStore>(store: S) {
    let app = Chronicle::new(store.clone());
    add_up_to(&app, 1, 12).await;
    wait_for_snapshot(&store, |s| s.stream_version == 10).await;
    for (version, snapshot, total) in [
        (12, Some(10), 78),
        (11, Some(10), 66),
        (10, Some(10), 55),
        (9, None, 45),
        (3, None, 6),
    ] {
        let loaded = app.load_at_version::<Tally>("t-1", version).await.unwrap();
        assert_eq!(
            (loaded.version, loaded.snapshot, loaded.state.total),
            (version, snapshot, total),
            "at version {version}"
        );
    }
    // As of a time, events are read from the first one (their recorded times are needed).
    let loaded = app.load_as_of::<Tally>("t-1", chrono::Utc::now()).await.unwrap();
    assert_eq!(
        (loaded.version, loaded.snapshot, loaded.state.total),
        (12, None, 78)
    );
}

pub async fn writing_a_snapshot_never_fails_or_holds_up_a_command<S: EventStore>(store: S) {
    let failing = Spy::new(store.clone()).fail_snapshot_writes();
    let app = Chronicle::new(failing.clone());
    add_up_to(&app, 1, 11).await;
    let loaded = app.load::<Tally>("t-1").await.unwrap();
    assert_eq!(
        (loaded.state.total, loaded.version, loaded.snapshot),
        (66, 11, None)
    );
    // The writes were tried (and failed), so the commands above really crossed them.
    wait_for_writes(&failing, &[5, 10]).await;

    let hanging = Spy::new(store.clone()).hang_snapshot_writes();
    let app = Chronicle::new(hanging.clone());
    tokio::time::timeout(Duration::from_secs(20), add_up_to(&app, 12, 20))
        .await
        .expect("commands crossing snapshot points complete while the snapshot writes hang");
    wait_for_writes(&hanging, &[15, 20]).await;
    assert_eq!(app.load::<Plain>("t-1").await.unwrap().state.total, 210);
    assert!(store.read_snapshot(STREAM).await.unwrap().is_none());
}
