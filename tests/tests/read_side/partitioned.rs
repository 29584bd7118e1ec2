//! Partitioned projections against a real Postgres event store: several workers (each with its
//! own sessions, as separate processes would have) share the partitions of one projection,
//! apply each event exactly once (the ledger counts applications per event), rebalance when a
//! worker joins, take over when one stops or crashes, wait for a receipt's own partition, and
//! rebuild when the partition count changes. A partition reads its own rows through its index.
//! Worker processes killed at random and paused past their lease are in
//! `partition_processes.rs`.

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::sqlx;
use chronicle::{
    Checkpoint, EventSource, Partition, PartitionedHandle, ProjectionError, RetryPolicy, StoreError,
};
use chronicle_tests::ledger::{assert_ledger_is_replay, Ledger};
use chronicle_tests::support::{self, PgBank};
use chronicle_tests::wait::{eventually, until};

const DEADLINE: Duration = Duration::from_secs(30);

type Worker = PartitionedHandle<Ledger, PostgresStore>;

/// A worker of the ledger in `count` partitions, with quick polls.
fn worker(bank: &PgBank, read: &PostgresReadStore, count: u32) -> Worker {
    PartitionedRunner::new(bank.store.clone(), read.clone(), Ledger::default(), count)
        .batch_size(7)
        .poll_interval(Duration::from_millis(50))
        .retry(RetryPolicy::new(3, Duration::from_millis(5)))
        .spawn()
}

/// Opens `count` accounts named `<prefix><n>` and deposits 1, 2, ... `deposits` on each.
async fn accounts(bank: &PgBank, prefix: &str, count: usize, deposits: i64) {
    for n in 0..count {
        let account = format!("{prefix}{n}");
        bank.open(&account).await;
        for amount in 1..=deposits {
            bank.deposit(&account, amount).await;
        }
    }
}

async fn log(bank: &PgBank) -> Vec<RecordedEvent> {
    bank.store.read_all(0, 100_000).await.expect("the log")
}

/// Waits until the workers lead `shares` partitions each (in the order given) and every
/// partition is led.
async fn until_shared(workers: &[&Worker], shares: &[usize]) {
    until("the partitions shared out", DEADLINE, || {
        let led: Vec<usize> = workers.iter().map(|w| w.led().len()).collect();
        led == shares
    })
    .await;
}

async fn stop<P: Projection>(worker: PartitionedHandle<P, PostgresStore>) {
    worker
        .stop()
        .await
        .into_result()
        .expect("the worker stops cleanly");
}

#[tokio::test]
async fn three_workers_share_four_partitions_and_apply_each_event_once() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    accounts(&bank, "p", 24, 3).await;
    let workers = [
        worker(&bank, &read, 4),
        worker(&bank, &read, 4),
        worker(&bank, &read, 4),
    ];
    // Shares by slot: 2, 1 and 1.
    until("every partition led", DEADLINE, || {
        workers.iter().map(|w| w.led().len()).sum::<usize>() == 4
            && workers.iter().all(|w| !w.led().is_empty())
    })
    .await;
    for w in &workers {
        w.wait_until_caught_up(DEADLINE).await.unwrap();
    }
    assert_ledger_is_replay(&read, &log(&bank).await).await;

    // Live appends reach the partition that owns their stream; a receipt waits for that one.
    let receipt = bank.deposit("p3", 100).await;
    workers[1].wait_for(&receipt, DEADLINE).await.unwrap();
    let side = ReadSide::new(bank.store.clone(), read.clone());
    side.wait_for::<Ledger>(receipt.position, DEADLINE).await.unwrap();
    for w in &workers {
        w.wait_until_caught_up(DEADLINE).await.unwrap();
    }
    assert_ledger_is_replay(&read, &log(&bank).await).await;

    // A peer's probe of a free slot can make it look held for a moment: the count settles.
    let status = eventually("three workers seen", DEADLINE, || async {
        workers[0]
            .status()
            .await
            .ok()
            .filter(|status| status.workers == 3)
    })
    .await;
    assert_eq!(status.partitions, 4);
    assert_eq!(status.each.len(), 4);
    assert_eq!(status.lag_events(), 0);
    assert_eq!(
        status.each.iter().filter(|p| p.held_here).count(),
        workers[0].led().len()
    );
    assert!(status.each.iter().all(|p| p.status.position == receipt.position));
    // Each partition's holder is the worker that leads it, seen from any worker. The status and
    // the workers' own lists are read at different moments, and a late rebalance can move a
    // partition between them, so they must agree once the shares have settled.
    let mut ids = Vec::new();
    for w in &workers {
        ids.push(w.status().await.unwrap().worker);
    }
    eventually("holders that match the leaders", DEADLINE, || async {
        let status = workers[0].status().await.ok()?;
        let agree = status.each.iter().all(|p| {
            let leader = workers.iter().position(|w| w.led().contains(&p.partition));
            leader.is_some_and(|leader| {
                p.holder.as_deref() == Some(ids[leader].as_str()) && p.held_here == (leader == 0)
            })
        });
        agree.then_some(())
    })
    .await;
    for w in workers {
        stop(w).await;
    }
}

#[tokio::test]
async fn a_joining_worker_gets_its_share_and_a_stopped_one_hands_over() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    accounts(&bank, "p", 16, 2).await;
    let first = worker(&bank, &read, 4);
    until_shared(&[&first], &[4]).await;
    first.wait_until_caught_up(DEADLINE).await.unwrap();

    let second = worker(&bank, &read, 4);
    until_shared(&[&first, &second], &[2, 2]).await;
    accounts(&bank, "q", 4, 2).await;
    second.wait_until_caught_up(DEADLINE).await.unwrap();
    assert_ledger_is_replay(&read, &log(&bank).await).await;

    // A worker that stops releases its partitions at once.
    stop(first).await;
    until_shared(&[&second], &[4]).await;
    let receipt = bank.deposit("p1", 7).await;
    second.wait_for(&receipt, DEADLINE).await.unwrap();
    second.wait_until_caught_up(DEADLINE).await.unwrap();
    assert_ledger_is_replay(&read, &log(&bank).await).await;
    stop(second).await;
}

#[tokio::test]
async fn a_crashed_worker_is_taken_over_and_nothing_is_applied_twice() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    accounts(&bank, "p", 12, 2).await;
    let doomed = worker(&bank, &read, 3);
    until_shared(&[&doomed], &[3]).await;
    let survivor = worker(&bank, &read, 3);
    until_shared(&[&doomed, &survivor], &[2, 1]).await;
    accounts(&bank, "q", 12, 3).await;
    // As if the process died mid-batch: its transactions and sessions are dropped uncommitted.
    doomed.abort();
    until_shared(&[&survivor], &[3]).await;
    survivor.wait_until_caught_up(DEADLINE).await.unwrap();
    assert_ledger_is_replay(&read, &log(&bank).await).await;
    stop(survivor).await;
}

#[tokio::test]
async fn read_your_writes_waits_only_for_the_partition_of_the_stream() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    accounts(&bank, "p", 8, 1).await;
    let only = worker(&bank, &read, 2);
    only.wait_until_caught_up(DEADLINE).await.unwrap();
    stop(only).await;
    // With no worker running, a receipt's own partition is behind, the other one is not.
    let receipt = bank.deposit("p0", 5).await;
    let owner = Partition::of(&receipt.stream_id, 2);
    let side = ReadSide::new(bank.store.clone(), read.clone());
    let error = side
        .wait_for::<Ledger>(receipt.position, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(error, ProjectionError::Timeout { .. }), "{error}");
    let restarted = worker(&bank, &read, 2);
    restarted.wait_for(&receipt, DEADLINE).await.unwrap();
    let status = restarted.status().await.unwrap();
    assert_eq!(
        status.each[owner.index as usize].status.position,
        receipt.position
    );
    stop(restarted).await;
}

#[tokio::test]
async fn a_new_partition_count_rebuilds_the_read_model_once_the_old_workers_are_gone() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    accounts(&bank, "p", 10, 2).await;
    let old = worker(&bank, &read, 2);
    old.wait_until_caught_up(DEADLINE).await.unwrap();

    // Started while a worker of two partitions runs: it waits, writing nothing.
    let new = worker(&bank, &read, 5);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(new.led().is_empty());
    assert_ledger_is_replay(&read, &log(&bank).await).await;

    stop(old).await;
    until_shared(&[&new], &[5]).await;
    new.wait_until_caught_up(DEADLINE).await.unwrap();
    // Rebuilt: every event applied once since the reset, not on top of the old rows.
    assert_ledger_is_replay(&read, &log(&bank).await).await;
    stop(new).await;
}

#[tokio::test]
async fn an_unpartitioned_runner_is_refused_once_the_read_model_is_partitioned() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    accounts(&bank, "p", 2, 1).await;
    let partitioned = worker(&bank, &read, 2);
    partitioned.wait_until_caught_up(DEADLINE).await.unwrap();
    let plain = ProjectionRunner::new(bank.store.clone(), read.clone(), Ledger::default())
        .poll_interval(Duration::from_millis(50))
        .spawn();
    until("the plain runner refused", DEADLINE, || plain.is_finished()).await;
    let error = plain.join().await.unwrap_err();
    assert!(
        matches!(error, ProjectionError::Partitioned { partitions: 2, .. }),
        "{error}"
    );
    assert_ledger_is_replay(&read, &log(&bank).await).await;
    stop(partitioned).await;
}

#[tokio::test]
async fn a_partition_reads_only_its_own_rows_through_its_index() {
    let bank = PgBank::new().await;
    accounts(&bank, "p", 20, 4).await;
    let store = &bank.store;
    store.prepare_partitions(4).await.unwrap();
    let all = log(&bank).await;
    let mut seen = 0;
    for partition in Partition::all(4) {
        let expected = all.iter().filter(|e| partition.owns(&e.stream_id)).count();
        // Another test's open transaction may hold the newest events back for a moment.
        let batch = eventually("the partition's events readable", DEADLINE, || async {
            let batch = store
                .read_partition(Checkpoint::START, &[], 1_000, partition)
                .await
                .unwrap();
            (batch.events.len() == expected).then_some(batch)
        })
        .await;
        assert!(batch.events.iter().all(|e| partition.owns(&e.stream_id)));
        seen += batch.events.len();
        // Same rows as the generated column says, key by key.
        let keys: Vec<i32> = sqlx::query_scalar(&format!(
            "SELECT partition_key FROM \"{}\".chronicle_events ORDER BY position",
            store.schema()
        ))
        .fetch_all(store.pool())
        .await
        .unwrap();
        for (event, key) in all.iter().zip(&keys) {
            assert_eq!(chronicle::partition_key(&event.stream_id) as i32, *key);
        }
    }
    assert_eq!(seen, all.len());

    // The plan reads the partition's index range, not the log (a table this small would be
    // scanned whole otherwise, so the scan is ruled out).
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN SELECT position FROM \"{}\".chronicle_events \
         WHERE partition_key % 4 = 1 AND (transaction_id, position) > ('0'::xid8, 0) \
         ORDER BY transaction_id, position LIMIT 10",
        store.schema()
    ))
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("chronicle_events_partitions_4_idx"), "{plan}");

    // The store's statements name the partition as a literal, so a generic plan (which Postgres
    // switches a prepared statement to after a few executions) knows the partition and keeps
    // reading its index range. With the partition as a parameter the planner has to guess its
    // share of the rows, and on a large log it prefers the log's own order and filters: N
    // partitions would read the log N times.
    sqlx::query("SET LOCAL plan_cache_mode = force_generic_plan")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "PREPARE partition_read (bigint, bigint) AS SELECT position FROM \"{}\".chronicle_events \
         WHERE (transaction_id, position) > ($1::text::xid8, $2) AND partition_key % 4 = 1 \
         ORDER BY transaction_id, position LIMIT 10",
        store.schema()
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    let generic: Vec<String> = sqlx::query_scalar("EXPLAIN EXECUTE partition_read (0, 0)")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    let generic = generic.join("\n");
    tx.rollback().await.unwrap();
    assert!(generic.contains("chronicle_events_partitions_4_idx"), "{generic}");
    assert!(generic.contains("(partition_key % 4) = 1"), "{generic}");
}

#[tokio::test]
async fn a_worker_joining_during_catch_up_takes_partitions_without_a_stall() {
    let bank = PgBank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    accounts(&bank, "p", 30, 40).await;
    let lease = Duration::from_secs(2);
    let start = || {
        PartitionedRunner::new(bank.store.clone(), read.clone(), Ledger::default(), 4)
            .batch_size(3)
            .poll_interval(Duration::from_millis(50))
            .lease(lease)
            .spawn()
    };
    let first = start();
    let second = start();
    until_shared(&[&first, &second], &[2, 2]).await;
    let third = start();
    // Every partition with work left advances at least once per lease while the third takes
    // its share over.
    let mut last_move: Vec<(Option<u64>, tokio::time::Instant)> =
        vec![(None, tokio::time::Instant::now()); 4];
    let mut longest = Duration::ZERO;
    let joined_with = third.status().await.unwrap().lag_events();
    assert!(
        joined_with > 0,
        "the others were still catching up when it joined"
    );
    loop {
        let status = third.status().await.unwrap();
        let now = tokio::time::Instant::now();
        for (seen, each) in last_move.iter_mut().zip(&status.each) {
            if each.status.position != seen.0 || each.status.lag_events == 0 {
                *seen = (each.status.position, now);
            }
            longest = longest.max(now - seen.1);
        }
        if status.lag_events() == 0 {
            break;
        }
        assert!(longest < lease, "a partition stood still for {longest:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(longest < lease, "a partition stood still for {longest:?}");
    assert!(!third.led().is_empty(), "the joining worker took a share");
    assert_ledger_is_replay(&read, &log(&bank).await).await;
    for w in [first, second, third] {
        stop(w).await;
    }
}

/// Two workers of a view written once, in three partitions, on a `SqlReadStore`: each stream's
/// events counted once.
async fn partitioned_on(read: chronicle::SqlReadStore) {
    use chronicle_tests::counts::{CountOf, PortableCounts};
    let bank = PgBank::new().await;
    accounts(&bank, "s", 9, 3).await;
    let start = || {
        PartitionedRunner::new(bank.store.clone(), read.clone(), PortableCounts, 3)
            .batch_size(4)
            .poll_interval(Duration::from_millis(50))
            .lease(Duration::from_secs(2))
            .spawn()
    };
    let (one, two) = (start(), start());
    until("both workers lead", DEADLINE, || {
        one.led().len() + two.led().len() == 3 && !one.led().is_empty() && !two.led().is_empty()
    })
    .await;
    let receipt = bank.deposit("s4", 10).await;
    one.wait_for(&receipt, DEADLINE).await.unwrap();
    one.wait_until_caught_up(DEADLINE).await.unwrap();
    let side = ReadSide::new(bank.store.clone(), read.clone());
    for n in 0..9 {
        let expected = if n == 4 { 5 } else { 4 };
        let counted = side
            .query(&PortableCounts, &CountOf(format!("bank.Account-s{n}")))
            .await
            .unwrap();
        assert_eq!(counted, Some(expected), "s{n}");
    }
    stop(one).await;
    stop(two).await;
}

#[tokio::test]
async fn partitioned_workers_run_on_sqlite_and_mariadb_read_stores() {
    partitioned_on(support::sqlite_read_store().await.into()).await;
    let mariadb = support::mysql_read_store().await;
    partitioned_on(mariadb.clone().into()).await;
    support::drop_mysql_database(&mariadb).await;
}

#[tokio::test]
async fn a_partition_that_cannot_exist_is_refused_by_the_store() {
    let bank = PgBank::new().await;
    accounts(&bank, "x", 2, 1).await;
    for (index, count) in [(4, 4), (0, 0), (0, chronicle::MAX_PARTITIONS + 1), (7, u32::MAX)] {
        let partition = Partition { index, count };
        let read = bank
            .store
            .read_partition(Checkpoint::START, &[], 10, partition)
            .await;
        assert!(
            matches!(read, Err(StoreError::InvalidPartition { index: i, count: c }) if (i, c) == (index, count)),
            "{read:?}"
        );
        let progress = bank
            .store
            .partition_progress(Checkpoint::START, &[], partition)
            .await;
        assert!(
            matches!(progress, Err(StoreError::InvalidPartition { .. })),
            "{progress:?}"
        );
    }
    let refused = bank.store.prepare_partitions(u32::MAX).await;
    assert!(
        matches!(refused, Err(StoreError::InvalidPartition { .. })),
        "{refused:?}"
    );

    // The other stores' reads (the log filtered) refuse them the same way.
    let memory = chronicle::MemoryStore::new();
    let read = memory
        .read_partition(Checkpoint::START, &[], 10, Partition { index: 4, count: 4 })
        .await;
    assert!(
        matches!(read, Err(StoreError::InvalidPartition { index: 4, count: 4 })),
        "{read:?}"
    );
    let progress = memory
        .partition_progress(Checkpoint::START, &[], Partition { index: 0, count: 0 })
        .await;
    assert!(
        matches!(progress, Err(StoreError::InvalidPartition { .. })),
        "{progress:?}"
    );
    assert!(matches!(
        memory.prepare_partitions(chronicle::MAX_PARTITIONS + 1).await,
        Err(StoreError::InvalidPartition { .. })
    ));
    assert!(memory.prepare_partitions(4).await.is_ok());
}
