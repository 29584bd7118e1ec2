//! `EventSource` on the stores that commit in position order: `SqliteStore` (on a file and in
//! memory) and `MemoryStore`.
#![cfg(feature = "sqlite")]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chronicle::{Checkpoint, EventSource, EventStore, MemoryStore, SqliteStore};
use common::subscription::{self as scenario, Tailer};
use uuid::Uuid;

/// A database file path that is removed, with its WAL files, when the test ends.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("chronicle-sub-{}.db", Uuid::new_v4().simple())))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn file_store(db: &TempDb) -> SqliteStore {
    let store = SqliteStore::open(db.path()).await.expect("open");
    store.migrate().await.expect("migrate");
    store
}

async fn memory_sqlite() -> SqliteStore {
    let store = SqliteStore::in_memory().await.expect("in_memory");
    store.migrate().await.expect("migrate");
    store
}

/// Runs a scenario on a SQLite file, on SQLite in memory and on `MemoryStore`.
macro_rules! on_every_store {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite_file {
            use super::*;
            $(
                #[tokio::test]
                async fn $scenario() {
                    let db = TempDb::new();
                    scenario::$scenario(&file_store(&db).await).await;
                }
            )*
        }
        mod sqlite_in_memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $scenario() {
                    scenario::$scenario(&memory_sqlite().await).await;
                }
            )*
        }
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $scenario() {
                    scenario::$scenario(&MemoryStore::new()).await;
                }
            )*
        }
    };
}

on_every_store!(
    batches_in_order_with_limits,
    type_filter_runs_in_the_store_and_still_advances,
    paging_reaches_everything_exactly_once,
    head_count_and_checkpoint_of,
    listener_wakes_on_append,
    listener_times_out_without_appends,
);

/// Positions commit in order: the transaction id is 0 and a caught-up batch's horizon is the
/// highest position, whatever types were asked for.
async fn horizons_are_positions<S: EventSource>(store: &S) {
    store
        .append("s", 0, scenario::typed(&[scenario::A, scenario::B]))
        .await
        .expect("append");
    let all = store.read_all(0, 10).await.expect("read_all");
    assert!(all.iter().all(|e| e.transaction_id == 0));
    let batch = store
        .read_batch(Checkpoint::START, &[scenario::A], 10)
        .await
        .expect("read_batch");
    assert_eq!(batch.events.len(), 1);
    assert_eq!(
        batch.horizon,
        Checkpoint {
            transaction_id: 0,
            position: all[1].position
        }
    );
    let head = store.head().await.expect("head");
    assert_eq!(head.checkpoint, batch.horizon);

    // A checkpoint with a transaction id is after every event of such a store.
    let foreign = Checkpoint {
        transaction_id: 1,
        position: 0,
    };
    let batch = store.read_batch(foreign, &[], 10).await.expect("read_batch");
    assert!(batch.events.is_empty());
    assert_eq!(batch.horizon, foreign);
    assert_eq!(store.progress(foreign, &[]).await.expect("progress").readable, 0);
}

#[tokio::test]
async fn sqlite_horizons_are_positions() {
    horizons_are_positions(&memory_sqlite().await).await;
}

#[tokio::test]
async fn memory_horizons_are_positions() {
    horizons_are_positions(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_type_filter_takes_odd_type_names_literally() {
    let store = memory_sqlite().await;
    let odd: &'static str = "it's \"odd\", [really] %_";
    store
        .append("s", 0, scenario::typed(&[odd, scenario::A]))
        .await
        .expect("append");
    let batch = store
        .read_batch(Checkpoint::START, &[odd], 10)
        .await
        .expect("read_batch");
    assert_eq!(batch.events.len(), 1);
    assert_eq!(batch.events[0].event_type, odd);
    assert_eq!(
        store
            .progress(Checkpoint::START, &["%"])
            .await
            .expect("progress")
            .readable,
        0
    );
}

/// Another process's appends do not raise this process's signal: a subscriber finds them when
/// it polls after its wait times out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_through_another_pool_are_found_by_polling() {
    let db = TempDb::new();
    let store = file_store(&db).await;
    let other = SqliteStore::open(db.path()).await.expect("open again");
    let mut listener = store.listen().await.expect("listen");
    let mut tailer = Tailer::new(store.clone(), &[], 10);
    assert_eq!(tailer.step().await, 0);

    other
        .append("s", 0, common::command(2))
        .await
        .expect("append elsewhere");
    assert!(
        !listener.wait(Duration::from_millis(200)).await,
        "woken by another pool"
    );
    assert_eq!(tailer.step().await, 2, "found by polling");

    store
        .append("s", 2, common::command(1))
        .await
        .expect("append here");
    assert!(
        listener.wait(Duration::from_secs(5)).await,
        "not woken by an append here"
    );
    assert_eq!(tailer.step().await, 1);
}

/// A subscriber tailing while several tasks append sees every event once, in position order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_reader_sees_every_event_once() {
    let db = TempDb::new();
    let store = file_store(&db).await;
    let mut writers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut version = 0;
            for i in 0..50 {
                let receipt = store
                    .append(&format!("w{w}"), version, common::command(1 + i % 2))
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
    let start = std::time::Instant::now();
    loop {
        assert!(
            start.elapsed() < scenario::DEADLINE,
            "{} events read",
            tailer.events.len()
        );
        if tailer.step().await == 0 {
            if let Some(total) = total {
                if tailer.events.len() >= total {
                    break;
                }
            }
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
    let all = store.read_all(0, usize::MAX).await.expect("read_all");
    assert_eq!(tailer.ids(), scenario::ids(&all));
    assert_eq!(all.len(), 4 * 75);
}
