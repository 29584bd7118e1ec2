//! Snapshots: taken in the background every N events, used when loading, ignored and replaced
//! when they are of another shape or unreadable, and never a reason for a command to fail.

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::{NewEvent, RecordedEvent, Snapshot, StoreError};
use chronicle_tests::support;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

const STREAM: &str = "test.Tally-t-1";

async fn add_up_to<S: EventStore>(app: &Chronicle<S>, from: i64, to: i64) {
    for n in from..=to {
        app.execute(Add {
            tally_id: "t-1".into(),
            n,
        })
        .await
        .unwrap();
    }
}

/// Polls until the stream's snapshot satisfies `ready` (they are written in the background).
async fn wait_for_snapshot<S: EventStore>(store: &S, ready: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(snapshot) = store.read_snapshot(STREAM).await.unwrap() {
            if ready(&snapshot) {
                return snapshot;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no matching snapshot after 10 s: {:?}",
            store.read_snapshot(STREAM).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn snapshots_are_taken_every_n_events_and_used_when_loading<S: EventStore>(store: S) {
    let app = Chronicle::new(store.clone());
    add_up_to(&app, 1, 4).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        store.read_snapshot(STREAM).await.unwrap().is_none(),
        "no snapshot before the 5th event"
    );
    add_up_to(&app, 5, 12).await;
    // Taken after the 5th and the 10th event; the newest wins whatever order they land in.
    let snapshot = wait_for_snapshot(&store, |s| s.stream_version == 10).await;
    assert_eq!(
        (snapshot.aggregate_type.as_str(), snapshot.snapshot_version),
        ("test.Tally", 1)
    );
    let state: serde_json::Value = serde_json::from_str(snapshot.state.get()).unwrap();
    assert_eq!(state, serde_json::json!({"total": 55, "count": 10}));
    assert!(snapshot.taken_at <= chrono_now());

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
    let loaded = app.load::<Tally>("t-1").await.unwrap();
    assert_eq!(
        (loaded.state.total, loaded.version, loaded.snapshot),
        (120, 15, Some(15))
    );
}

async fn a_snapshot_of_another_version_is_ignored_and_replaced<S: EventStore>(store: S) {
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

async fn an_unreadable_snapshot_is_ignored_and_replaced<S: EventStore>(store: S) {
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
            taken_at: chrono_now(),
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
            taken_at: chrono_now(),
        })
        .await
        .unwrap();
    add_up_to(&app, 8, 8).await;
    let loaded = app.load::<Plain>("t-1").await.unwrap();
    assert_eq!((loaded.state.total, loaded.version), (36, 8));
}

async fn time_travel_uses_a_snapshot_only_at_or_before_the_version<S: EventStore>(store: S) {
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
    let loaded = app.load_as_of::<Tally>("t-1", chrono_now()).await.unwrap();
    assert_eq!(
        (loaded.version, loaded.snapshot, loaded.state.total),
        (12, None, 78)
    );
}

/// A store whose snapshot writes fail, or never finish.
#[derive(Clone)]
struct BrokenSnapshots<S> {
    inner: S,
    hang: bool,
}

impl<S: EventStore> EventStore for BrokenSnapshots<S> {
    async fn append_checked(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<chronicle::Receipt, StoreError> {
        self.inner
            .append_checked(stream_id, expected_version, events)
            .await
    }

    async fn read_stream(&self, stream_id: &str, after: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream_id, after).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }

    async fn find_command(&self, command_id: Uuid) -> Result<Option<chronicle::Receipt>, StoreError> {
        self.inner.find_command(command_id).await
    }

    async fn read_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.read_snapshot(stream_id).await
    }

    async fn write_snapshot(&self, _: Snapshot) -> Result<(), StoreError> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        Err(StoreError::Unavailable("the snapshot table is on fire".into()))
    }
}

async fn writing_a_snapshot_never_fails_or_holds_up_a_command<S: EventStore>(store: S) {
    let failing = Chronicle::new(BrokenSnapshots {
        inner: store.clone(),
        hang: false,
    });
    add_up_to(&failing, 1, 11).await;
    let loaded = failing.load::<Tally>("t-1").await.unwrap();
    assert_eq!(
        (loaded.state.total, loaded.version, loaded.snapshot),
        (66, 11, None)
    );

    let hanging = Chronicle::new(BrokenSnapshots {
        inner: store.clone(),
        hang: true,
    });
    tokio::time::timeout(Duration::from_secs(5), add_up_to(&hanging, 12, 20))
        .await
        .expect("commands crossing snapshot points complete while the snapshot writes hang");
    assert_eq!(hanging.load::<Plain>("t-1").await.unwrap().state.total, 210);
    assert!(store.read_snapshot(STREAM).await.unwrap().is_none());
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

macro_rules! on_every_store {
    ($store:ident, $make:expr) => {
        mod $store {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn snapshots_are_taken_every_n_events_and_used_when_loading() {
                super::snapshots_are_taken_every_n_events_and_used_when_loading($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_snapshot_of_another_version_is_ignored_and_replaced() {
                super::a_snapshot_of_another_version_is_ignored_and_replaced($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_unreadable_snapshot_is_ignored_and_replaced() {
                super::an_unreadable_snapshot_is_ignored_and_replaced($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn time_travel_uses_a_snapshot_only_at_or_before_the_version() {
                super::time_travel_uses_a_snapshot_only_at_or_before_the_version($make).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn writing_a_snapshot_never_fails_or_holds_up_a_command() {
                super::writing_a_snapshot_never_fails_or_holds_up_a_command($make).await;
            }
        }
    };
}

on_every_store!(memory, MemoryStore::new());
on_every_store!(sqlite, support::sqlite_store().await);
on_every_store!(postgres, support::postgres_store().await);

/// Postgres-only: the snapshot table missing altogether, and a schema of the previous layout.
mod postgres_schema {
    use super::*;

    #[tokio::test]
    async fn a_missing_snapshot_table_fails_no_command() {
        let store = support::postgres_store().await;
        sqlx::query(&format!(
            "ALTER TABLE \"{}\".chronicle_snapshots RENAME TO chronicle_snapshots_gone",
            store.schema()
        ))
        .execute(store.pool())
        .await
        .unwrap();
        let app = Chronicle::new(store.clone());
        add_up_to(&app, 1, 11).await;
        let loaded = app.load::<Tally>("t-1").await.unwrap();
        assert_eq!((loaded.state.total, loaded.snapshot), (66, None));
        assert!(store.read_snapshot(STREAM).await.is_err());
    }

    #[tokio::test]
    async fn migrate_adds_snapshots_and_the_correlation_index_to_a_layout_2_schema() {
        let store = support::postgres_store().await;
        let schema = store.schema().to_owned();
        let table = format!("\"{schema}\".chronicle_events");
        // The schema as the previous layout left it.
        sqlx::raw_sql(&format!(
            "DROP TABLE \"{schema}\".chronicle_snapshots; \
             DROP INDEX \"{schema}\".chronicle_events_correlation_id_idx; \
             COMMENT ON TABLE {table} IS 'Chronicle event log, append-only. Table layout 2.';"
        ))
        .execute(store.pool())
        .await
        .unwrap();

        store.migrate().await.unwrap();
        let marker: Option<String> =
            sqlx::query_scalar("SELECT obj_description(to_regclass($1), 'pg_class')")
                .bind(&table)
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(
            marker.as_deref(),
            Some("Chronicle event log, append-only. Table layout 5.")
        );
        let (snapshots, index): (bool, bool) =
            sqlx::query_as("SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL")
                .bind(format!("\"{schema}\".chronicle_snapshots"))
                .bind(format!("\"{schema}\".chronicle_events_correlation_id_idx"))
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert!(snapshots && index);

        let app = Chronicle::new(store.clone());
        add_up_to(&app, 1, 5).await;
        wait_for_snapshot(&store, |s| s.stream_version == 5).await;
        store.migrate().await.unwrap();
    }
}
