//! `PostgresStore` as an `EventSource`: events committed in every order relative to their
//! positions, with transactions opened by hand on connections of their own. A tailing
//! subscriber delivers each event exactly once and never skips one: an event committed while an
//! older transaction is still open is held back (the xmin fence) until that one ends.
//!
//! Whether a read delivers what it must not is decided by the read alone (it looks at the
//! transactions open at that moment, which the test holds open), so a few reads prove it: no
//! test waits to see that nothing comes.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chronicle::{Checkpoint, EventSource, EventStore, PostgresStore};
use chronicle_tests::conformance::events::{command, metadata, typed};
use chronicle_tests::conformance::subscription::{Tailer, A, B};
use chronicle_tests::support::database_url;
use chronicle_tests::wait::DEADLINE;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use super::{cleanup, fresh_store};

/// Reads that must deliver nothing while a transaction is held open.
const READS: usize = 3;

/// An event written by hand: its id and its checkpoint.
#[derive(Debug, Clone, Copy)]
struct Written {
    id: Uuid,
    at: Checkpoint,
}

/// A transaction on a connection of its own, outside the store's pool, that writes events with
/// plain `INSERT`s and commits or rolls back when the test says so.
struct RawTx {
    conn: PgConnection,
    table: String,
}

impl RawTx {
    async fn begin(store: &PostgresStore) -> Self {
        let mut conn = PgConnection::connect(&database_url()).await.expect("connect");
        (&mut conn).execute("BEGIN").await.expect("begin");
        Self {
            conn,
            table: format!("\"{}\".chronicle_events", store.schema()),
        }
    }

    /// Takes the transaction's id now, before anything is written.
    async fn xid(&mut self) -> u64 {
        let xid: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
            .fetch_one(&mut self.conn)
            .await
            .expect("pg_current_xact_id");
        xid as u64
    }

    async fn insert(&mut self, event_type: &str) -> Written {
        let id = Uuid::new_v4();
        let metadata = serde_json::to_string(&metadata(Uuid::new_v4())).expect("metadata json");
        let (xid, position): (i64, i64) = sqlx::query_as(&format!(
            "INSERT INTO {} \
             (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
             VALUES ($1, 1, $2, $3, 1, '{{}}', $4::text::jsonb, $5) \
             RETURNING transaction_id::text::bigint, position",
            self.table
        ))
        .bind(format!("raw-{id}"))
        .bind(id)
        .bind(event_type)
        .bind(metadata)
        .bind(Uuid::new_v4())
        .fetch_one(&mut self.conn)
        .await
        .expect("insert by hand");
        Written {
            id,
            at: Checkpoint {
                transaction_id: xid as u64,
                position: position as u64,
            },
        }
    }

    async fn commit(mut self) {
        (&mut self.conn).execute("COMMIT").await.expect("commit");
        let _ = self.conn.close().await;
    }

    async fn rollback(mut self) {
        (&mut self.conn).execute("ROLLBACK").await.expect("rollback");
        let _ = self.conn.close().await;
    }
}

fn ids(written: &[Written]) -> Vec<Uuid> {
    written.iter().map(|w| w.id).collect()
}

#[tokio::test]
async fn an_open_transaction_holds_back_later_commits() {
    let store = fresh_store().await;
    store.append("before", 0, command(1)).await.expect("append");
    let mut tailer = Tailer::new(store.clone(), &[], 10);
    tailer.until(1).await;

    let mut t1 = RawTx::begin(&store).await;
    let first = t1.insert(A).await;
    // A later transaction, through the store's own append, takes a later position and commits
    // while the first is still open.
    store.append("after", 0, command(1)).await.expect("append");
    let committed = store.read_all(0, 100).await.expect("read_all");
    let second = committed
        .iter()
        .find(|e| e.stream_id == "after")
        .expect("committed");
    assert!(second.position > first.at.position);
    assert!(second.transaction_id > first.at.transaction_id);
    // A reader of positions would now move past the first event's position for good.
    assert!(committed.iter().all(|e| e.event_id != first.id));

    tailer.reads_nothing(READS).await;
    assert_eq!(
        tailer.events.len(),
        1,
        "delivered past an open transaction: {:?}",
        tailer.events
    );
    assert!(
        tailer.checkpoint < first.at,
        "{:?} passed the open transaction",
        tailer.checkpoint
    );
    assert_eq!(
        store
            .progress(tailer.checkpoint, &[])
            .await
            .expect("progress")
            .readable,
        0
    );
    let head = store.head().await.expect("head");
    assert_eq!(
        head.position,
        Some(second.position),
        "head counts what is committed"
    );
    assert!(head.checkpoint < first.at);

    t1.commit().await;
    tailer.until(3).await;
    assert_eq!(tailer.ids()[1..], [first.id, second.event_id]);
    tailer.reads_nothing(READS).await;
    assert_eq!(tailer.events.len(), 3);
    cleanup(store).await;
}

#[tokio::test]
async fn a_rolled_back_transaction_releases_later_commits() {
    let store = fresh_store().await;
    let mut tailer = Tailer::new(store.clone(), &[], 10);
    let mut t1 = RawTx::begin(&store).await;
    let lost = t1.insert(A).await;
    let mut t2 = RawTx::begin(&store).await;
    let kept = t2.insert(A).await;
    t2.commit().await;

    tailer.reads_nothing(READS).await;
    assert!(tailer.events.is_empty(), "delivered past an open transaction");

    t1.rollback().await;
    tailer.until(1).await;
    tailer.reads_nothing(READS).await;
    assert_eq!(tailer.ids(), [kept.id]);
    assert!(tailer.checkpoint > kept.at);
    assert!(lost.at < kept.at);
    cleanup(store).await;
}

#[tokio::test]
async fn transactions_committed_in_reverse_order_arrive_in_transaction_order() {
    let store = fresh_store().await;
    let mut tailer = Tailer::new(store.clone(), &[], 10);
    let mut open = Vec::new();
    let mut written = Vec::new();
    for _ in 0..3 {
        let mut tx = RawTx::begin(&store).await;
        written.push(tx.insert(A).await);
        open.push(tx);
    }
    assert!(written.windows(2).all(|w| w[0].at < w[1].at));

    while let Some(tx) = open.pop() {
        let last = open.is_empty();
        tx.commit().await;
        if !last {
            tailer.reads_nothing(READS).await;
            assert!(
                tailer.events.is_empty(),
                "delivered while an older transaction is open"
            );
        }
    }
    tailer.until(3).await;
    tailer.reads_nothing(READS).await;
    assert_eq!(tailer.ids(), ids(&written));
    cleanup(store).await;
}

#[tokio::test]
async fn an_older_transaction_with_a_later_position_comes_first() {
    let store = fresh_store().await;
    let mut tailer = Tailer::new(store.clone(), &[], 10);
    let mut older = RawTx::begin(&store).await;
    let older_xid = older.xid().await;
    let mut younger = RawTx::begin(&store).await;
    let early = younger.insert(A).await;
    let late = older.insert(A).await;
    assert_eq!(late.at.transaction_id, older_xid);
    assert!(late.at.position > early.at.position);
    assert!(late.at < early.at, "ordered by transaction first");
    younger.commit().await;

    tailer.reads_nothing(READS).await;
    assert!(
        tailer.events.is_empty(),
        "delivered while an older transaction is open"
    );
    older.commit().await;
    tailer.until(2).await;
    tailer.reads_nothing(READS).await;
    assert_eq!(tailer.ids(), [late.id, early.id]);
    cleanup(store).await;
}

#[tokio::test]
async fn interleaved_transactions_of_several_events() {
    let store = fresh_store().await;
    let mut all = Tailer::new(store.clone(), &[], 2);
    let mut only_b = Tailer::new(store.clone(), &[B], 2);
    let mut t1 = RawTx::begin(&store).await;
    let mut t2 = RawTx::begin(&store).await;
    let a1 = t1.insert(A).await;
    let b1 = t2.insert(A).await;
    let a2 = t1.insert(B).await;
    let b2 = t2.insert(B).await;
    t2.commit().await;

    all.reads_nothing(READS).await;
    only_b.reads_nothing(READS).await;
    assert!(all.events.is_empty() && only_b.events.is_empty());
    t1.commit().await;
    all.until(4).await;
    only_b.until(2).await;
    assert_eq!(all.ids(), ids(&[a1, a2, b1, b2]));
    assert_eq!(only_b.ids(), ids(&[a2, b2]));
    cleanup(store).await;
}

#[tokio::test]
async fn transaction_ids_are_those_of_the_writing_transactions() {
    let store = fresh_store().await;
    let empty = store
        .read_batch(Checkpoint::START, &[], 10)
        .await
        .expect("read_batch");
    assert!(empty.events.is_empty());
    assert!(
        empty.horizon.transaction_id > 0,
        "the horizon is the snapshot's xmin"
    );
    assert_eq!(empty.horizon.position, 0);

    let mut tx = RawTx::begin(&store).await;
    let xid = tx.xid().await;
    let written = [tx.insert(A).await, tx.insert(B).await];
    tx.commit().await;
    store.append("s", 0, command(2)).await.expect("append");

    let all = store.read_all(0, 10).await.expect("read_all");
    assert_eq!(all.len(), 4);
    assert_eq!([all[0].transaction_id, all[1].transaction_id], [xid, xid]);
    assert_eq!(Checkpoint::of(&all[0]), written[0].at);
    assert_eq!(Checkpoint::of(&all[1]), written[1].at);
    assert!(all[2].transaction_id > xid);
    assert_eq!(
        all[2].transaction_id, all[3].transaction_id,
        "one append, one transaction"
    );
    let stream = store.read_stream("s", 0).await.expect("read_stream");
    assert_eq!(stream[0].transaction_id, all[2].transaction_id);
    for event in &all {
        assert_eq!(
            store.checkpoint_of(event.position).await.expect("checkpoint_of"),
            Some(Checkpoint::of(event))
        );
    }
    cleanup(store).await;
}

/// xorshift64: tiny, deterministic per seed, good enough for jitter.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Eight tasks append through the store while two write by hand in transactions held open for
/// random moments; two subscribers tail with small batches (one of them filtered). Each must
/// end up with every event (of its types) exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_reader_sees_every_event_once() {
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 200;
    const RAW_WRITERS: u64 = 2;
    const RAW_TRANSACTIONS: u64 = 40;

    let store = fresh_store().await;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut random = 0x9e37_79b9_7f4a_7c15 ^ (w + 1);
            let mut version = 0;
            let mut written = 0;
            for i in 0..APPENDS {
                let types: &[&'static str] = match i % 3 {
                    0 => &[A],
                    1 => &[B],
                    _ => &[A, B],
                };
                let receipt = store
                    .append(&format!("w{w}"), version, typed(types))
                    .await
                    .expect("append");
                version = receipt.stream_version;
                written += types.len();
                // Jitter between appends, to vary how they interleave with the raw writers.
                match next_random(&mut random) % 4 {
                    0 => tokio::time::sleep(Duration::from_micros(next_random(&mut random) % 2000)).await,
                    1 => tokio::task::yield_now().await,
                    _ => {}
                }
            }
            written
        }));
    }
    for w in 0..RAW_WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut random = 0x2545_f491_4f6c_dd1d ^ (w + 1);
            let mut written = 0;
            for _ in 0..RAW_TRANSACTIONS {
                let mut tx = RawTx::begin(&store).await;
                for _ in 0..1 + next_random(&mut random) % 3 {
                    let event_type = if next_random(&mut random) % 2 == 0 { A } else { B };
                    tx.insert(event_type).await;
                    written += 1;
                    // The scenario: the transaction stays open for a random moment.
                    tokio::time::sleep(Duration::from_micros(next_random(&mut random) % 5000)).await;
                }
                if next_random(&mut random) % 5 == 0 {
                    tx.rollback().await;
                } else {
                    tx.commit().await;
                }
            }
            written
        }));
    }

    let mut everything = Tailer::new(store.clone(), &[], 5);
    let mut only_b = Tailer::new(store.clone(), &[B], 3);
    let mut listener = store.listen().await.expect("listen");
    let start = Instant::now();
    let mut done = false;
    loop {
        assert!(
            start.elapsed() < DEADLINE,
            "{} events read",
            everything.events.len()
        );
        let read = everything.step().await + only_b.step().await;
        if read == 0 {
            if done {
                let all = store.read_all(0, usize::MAX).await.expect("read_all");
                if everything.events.len() == all.len() {
                    break;
                }
                // Past the last event in subscription order with some missing: skipped for good.
                let end = all.iter().map(Checkpoint::of).max();
                if end.is_some_and(|end| everything.checkpoint >= end) {
                    let read: HashSet<Uuid> = everything.ids().into_iter().collect();
                    let skipped: Vec<_> = all
                        .iter()
                        .filter(|e| !read.contains(&e.event_id))
                        .map(Checkpoint::of)
                        .collect();
                    panic!("reader at {:?} skipped {skipped:?}", everything.checkpoint);
                }
            }
            listener.wait(Duration::from_millis(20)).await;
        }
        if !done && writers.iter().all(|w| w.is_finished()) {
            for writer in writers.drain(..) {
                writer.await.expect("writer");
            }
            done = true;
        }
    }
    let last = Checkpoint::of(everything.events.last().expect("events"));
    only_b.until_checkpoint(last).await;

    let all = store.read_all(0, usize::MAX).await.expect("read_all");
    let api_events = WRITERS * (0..APPENDS).map(|i| if i % 3 == 2 { 2 } else { 1 }).sum::<u64>();
    assert!(all.len() as u64 >= api_events, "{} stored", all.len());
    let stored: HashSet<Uuid> = all.iter().map(|e| e.event_id).collect();
    let read: HashSet<Uuid> = everything.ids().into_iter().collect();
    assert_eq!(everything.events.len(), all.len(), "each event once");
    assert_eq!(read, stored);
    let stored_b: HashSet<Uuid> = all
        .iter()
        .filter(|e| e.event_type == B)
        .map(|e| e.event_id)
        .collect();
    let read_b: HashSet<Uuid> = only_b.ids().into_iter().collect();
    assert_eq!(only_b.events.len(), stored_b.len(), "each B event once");
    assert_eq!(read_b, stored_b);

    // How often delivery order differed from position order: the case a position reader gets
    // wrong. Reported, not asserted: it depends on scheduling.
    let out_of_position = everything
        .events
        .windows(2)
        .filter(|w| w[1].position < w[0].position)
        .count();
    eprintln!(
        "{} events, {} reads; {out_of_position} delivered before an event of a lower position",
        all.len(),
        everything.reads
    );
    cleanup(store).await;
}

#[tokio::test]
async fn listener_recovers_from_a_lost_connection() {
    let store = fresh_store().await;
    let mut listener = store.listen().await.expect("listen");
    let listen = format!("LISTEN \"{}\"", store.notification_channel());
    let terminated: Vec<bool> =
        sqlx::query_scalar("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1")
            .bind(&listen)
            .fetch_all(store.pool())
            .await
            .expect("terminate the listener's connection");
    assert_eq!(terminated, [true]);

    // The next waits notice the loss, reconnect and say "read again" (a notification may have
    // been missed); none of them waits past its timeout.
    let start = Instant::now();
    let mut woken = false;
    for _ in 0..3 {
        let attempt = Instant::now();
        woken = listener.wait(Duration::from_secs(2)).await;
        assert!(
            attempt.elapsed() < Duration::from_secs(3),
            "waited {:?}",
            attempt.elapsed()
        );
        if woken {
            break;
        }
    }
    assert!(
        woken,
        "no wake-up after the connection was lost ({:?})",
        start.elapsed()
    );

    // Listening again: quiet without appends (the listener's timeout is under test), woken by
    // one.
    assert!(
        !listener.wait(Duration::from_millis(300)).await,
        "woken without an append"
    );
    store.append("s", 0, command(1)).await.expect("append");
    assert!(
        listener.wait(Duration::from_secs(5)).await,
        "not woken after reconnecting"
    );
    cleanup(store).await;
}
