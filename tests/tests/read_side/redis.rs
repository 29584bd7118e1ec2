//! Read models in Redis, fed from a Postgres event store: a leaderboard `#[projection]` (a sorted
//! set of balances, `ZINCRBY`) whose handlers take `&mut RedisWrites` and whose `#[query]` methods
//! read through `&mut ReadOnly<'_, RedisWrites>`, run by a `ProjectionRunner`: catch-up, live
//! appends, read-your-writes, a crash before the commit, a standby runner taking over, a version
//! bump, a poison event dead-lettered; queries that cannot write; leases; and a throwaway Redis
//! server killed and started again mid-catch-up. Each test keeps its keys under a prefix of its
//! own and deletes them at the end.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::pace::stop;
use bank::{AccountOpened, MoneyDeposited, MoneyWithdrawn};
use chronicle::prelude::*;
use chronicle::redis;
use chronicle::{BoxError, Checkpoint, ReadStoreError, ReadTransaction, RunnerState};
use chronicle_tests::support::{self, PgBank};
use chronicle_tests::throwaway_brokers::ThrowawayRedis;
use chronicle_tests::wait::{eventually, until};
use uuid::Uuid;

const CATCH_UP: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
#[error("cursed amount {0}")]
struct Cursed(i64);

/// A leaderboard: each account's balance in the sorted set `<prefix>:board`, its event count in
/// the hash `<prefix>:board:events`, and every application of an event in the list
/// `<prefix>:board:applied` (a repeated event shows up twice).
#[derive(Default)]
struct Board {
    /// The store's key prefix, under which the view's keys go too.
    prefix: String,
    /// A deposit of this amount makes the handler fail.
    curse: Option<i64>,
    /// A pause in every handler, to stretch a catch-up.
    delay: Duration,
    /// How many times a handler ran (committed or not).
    calls: Arc<AtomicU32>,
}

impl Board {
    fn new(read: &RedisReadStore) -> Self {
        Self {
            prefix: read.key_prefix().to_owned(),
            ..Self::default()
        }
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:board{suffix}", self.prefix)
    }

    async fn reset(&self, db: &mut RedisWrites) -> Result<(), ReadStoreError> {
        db.queue(
            redis::cmd("DEL")
                .arg(self.key(""))
                .arg(self.key(":events"))
                .arg(self.key(":applied")),
        )?;
        Ok(())
    }

    async fn apply(
        &self,
        db: &mut RedisWrites,
        meta: &RecordedEvent,
        account: &str,
        amount: i64,
    ) -> Result<(), BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if Some(amount) == self.curse {
            return Err(Cursed(amount).into());
        }
        db.queue(redis::cmd("ZINCRBY").arg(self.key("")).arg(amount).arg(account))?;
        db.queue(redis::cmd("HINCRBY").arg(self.key(":events")).arg(account).arg(1))?;
        db.queue(
            redis::cmd("RPUSH")
                .arg(self.key(":applied"))
                .arg(meta.event_id.to_string()),
        )?;
        Ok(())
    }
}

/// The handlers of a leaderboard of version `$version`, and the methods given, as a
/// `#[projection]`.
macro_rules! board_projection {
    ($name:ident, $version:literal $(, $($queries:tt)*)?) => {
        #[projection(name = "redis_board", version = $version)]
        impl $name {
            #[reset]
            async fn reset(&self, db: &mut RedisWrites) -> Result<(), ReadStoreError> {
                self.0.reset(db).await
            }

            #[on]
            async fn opened(
                &self,
                event: &AccountOpened,
                meta: &RecordedEvent,
                db: &mut RedisWrites,
            ) -> Result<(), BoxError> {
                self.0.apply(db, meta, &event.account_id, 0).await
            }

            #[on]
            async fn deposited(
                &self,
                event: &MoneyDeposited,
                meta: &RecordedEvent,
                db: &mut RedisWrites,
            ) -> Result<(), BoxError> {
                self.0.apply(db, meta, &event.account_id, event.amount).await
            }

            #[on]
            async fn withdrawn(
                &self,
                event: &MoneyWithdrawn,
                meta: &RecordedEvent,
                db: &mut RedisWrites,
            ) -> Result<(), BoxError> {
                self.0.apply(db, meta, &event.account_id, -event.amount).await
            }

            $($($queries)*)?
        }
    };
}

/// Version 1 of the leaderboard, with its queries.
#[derive(Default)]
struct BoardV1(Board);
board_projection! {
    BoardV1,
    1,
    #[query]
    async fn top(&self, query: &Top, db: &mut ReadOnly<'_, RedisWrites>) -> Result<Vec<(String, i64)>, ReadStoreError> {
        let stop = isize::try_from(query.0).unwrap_or(isize::MAX) - 1;
        let ranked = db.zrevrange_with_scores(&self.0.key(""), 0, stop).await?;
        Ok(ranked.into_iter().map(|(account, score)| (account, score as i64)).collect())
    }
    #[query]
    async fn balance(&self, query: &BalanceOf, db: &mut ReadOnly<'_, RedisWrites>) -> Result<Option<i64>, ReadStoreError> {
        Ok(db.zscore(&self.0.key(""), &query.0).await?.map(|score| score as i64))
    }
    #[query]
    async fn events(&self, query: &EventsOf, db: &mut ReadOnly<'_, RedisWrites>) -> Result<Option<i64>, ReadStoreError> {
        db.read(redis::cmd("HGET").arg(self.0.key(":events")).arg(&query.0)).await
    }
    #[query]
    async fn applied(&self, _query: &Applied, db: &mut ReadOnly<'_, RedisWrites>) -> Result<(usize, usize), ReadStoreError> {
        let ids: Vec<String> = db.read(redis::cmd("LRANGE").arg(self.0.key(":applied")).arg(0).arg(-1)).await?;
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        Ok((ids.len(), distinct.len()))
    }
    #[query]
    async fn sneaky(&self, query: &SneakyWrite, db: &mut ReadOnly<'_, RedisWrites>) -> Result<(), ReadStoreError> {
        // The only way to reach Redis is a reading method; hand it a write.
        let mut command = redis::cmd(query.0);
        command.arg(self.0.key("")).arg(1_000_000).arg("sneaky");
        db.read::<redis::Value>(&command).await.map(drop)
    }
}

impl BoardV1 {
    fn new(read: &RedisReadStore) -> Self {
        Self(Board::new(read))
    }
}

/// Version 2 of the leaderboard: the same view, rebuilt.
#[derive(Default)]
struct BoardV2(Board);
board_projection!(BoardV2, 2);

/// The `n` highest balances, highest first.
#[derive(Query)]
#[query(output = Vec<(String, i64)>, read_model = BoardV1)]
struct Top(usize);

/// One account's balance.
#[derive(Query)]
#[query(output = Option<i64>, read_model = BoardV1)]
struct BalanceOf(String);

/// How many events one account's balance counts.
#[derive(Query)]
#[query(output = Option<i64>, read_model = BoardV1)]
struct EventsOf(String);

/// How many events were applied, and how many distinct ones.
#[derive(Query)]
#[query(output = (usize, usize), read_model = BoardV1)]
struct Applied;

/// A "query" that runs the (writing) command it names.
#[derive(Query)]
#[query(output = (), read_model = BoardV1)]
struct SneakyWrite(&'static str);

type Side = ReadSide<PostgresStore, RedisReadStore>;

/// Events in Postgres, read models in Redis under a prefix of the test's own.
async fn setup() -> (PgBank, Side, RedisReadStore) {
    let bank = PgBank::new().await;
    let read = support::redis_read_store().await;
    let side = ReadSide::new(bank.store.clone(), read.clone());
    (bank, side, read)
}

/// Test pacing: quick polls and retries, and short leases.
fn quick<P: Projection, S: EventSource>(runner: ProjectionRunner<P, S>) -> ProjectionRunner<P, S> {
    super::pace::quick(runner).lease(Duration::from_secs(2))
}

async fn applied(side: &Side, read: &RedisReadStore) -> (usize, usize) {
    side.query(&BoardV1::new(read), &Applied)
        .await
        .expect("count applied events")
}

async fn balance(side: &Side, read: &RedisReadStore, account: &str) -> Option<i64> {
    side.query(&BoardV1::new(read), &BalanceOf(account.into()))
        .await
        .expect("read a balance")
}

async fn top(side: &Side, read: &RedisReadStore, n: usize) -> Vec<(String, i64)> {
    side.query(&BoardV1::new(read), &Top(n))
        .await
        .expect("read the top")
}

async fn clean_up(side: Side, read: RedisReadStore) {
    drop(side);
    support::delete_redis_keys(&read).await;
}

#[tokio::test]
async fn catch_up_live_appends_and_read_your_writes() {
    let (bank, side, read) = setup().await;
    for account in ["a", "b", "c"] {
        bank.open(account).await;
    }
    for amount in 1..=10 {
        bank.deposit("a", amount).await;
        bank.deposit("b", amount * 2).await;
    }
    bank.withdraw("b", 5).await;
    bank.deposit("c", 30).await;

    let handle = quick(side.runner(BoardV1::new(&read))).batch_size(4).spawn();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(
        top(&side, &read, 2).await,
        vec![("b".into(), 105), ("a".into(), 55)]
    );
    assert_eq!(top(&side, &read, 10).await.len(), 3);
    assert_eq!(
        side.query(&BoardV1::new(&read), &EventsOf("b".into()))
            .await
            .unwrap(),
        Some(12)
    );
    assert_eq!(applied(&side, &read).await, (25, 25));
    let status = handle.status().await.unwrap();
    assert_eq!(status.lag_events, 0);
    assert!(status.leader);

    // Live: each append reaches the view, and a consistent query waits for it.
    for amount in [100, 200, 300] {
        let receipt = bank.deposit("a", amount).await;
        let seen = side
            .query_consistent(&BoardV1::new(&read), &BalanceOf("a".into()), &receipt, CATCH_UP)
            .await
            .unwrap();
        assert!(seen >= Some(55 + amount), "{seen:?}");
    }
    assert_eq!(top(&side, &read, 1).await, vec![("a".into(), 655)]);
    let receipt = bank.withdraw("b", 1).await;
    side.wait_for::<BoardV1>(receipt.position, CATCH_UP)
        .await
        .unwrap();
    assert_eq!(balance(&side, &read, "b").await, Some(104));
    assert_eq!(applied(&side, &read).await, (29, 29));
    assert_eq!(handle.state(), RunnerState::Live);
    stop(handle).await;
    clean_up(side, read).await;
}

#[tokio::test]
async fn a_crash_between_handlers_and_commit_counts_each_event_once() {
    let (bank, side, read) = setup().await;
    let mut receipts = vec![bank.open("crash").await];
    for amount in 1..=19 {
        receipts.push(bank.deposit("crash", amount).await);
    }

    // The sizes of the batches the runner committed before the crash: usually 5 and 5, fewer
    // when an open transaction elsewhere on the server holds later events back from a read.
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (batches, seen) = (Arc::new(AtomicU32::new(0)), sizes.clone());
    let counter = batches.clone();
    let handle = quick(side.runner(BoardV1::new(&read)))
        .batch_size(5)
        .crash_before_commit(move |events| {
            let crash = counter.fetch_add(1, Ordering::SeqCst) + 1 == 3;
            if !crash {
                seen.lock().expect("not poisoned").push(events.len());
            }
            crash
        })
        .spawn();
    until("the simulated crash", CATCH_UP, || handle.is_finished()).await;
    let error = handle.join().await.unwrap_err();
    assert!(matches!(error, ProjectionError::SimulatedCrash { .. }), "{error}");

    // Two batches were committed; the third ran its handlers but did not commit: what is applied
    // is exactly what the checkpoint covers.
    let committed: usize = sizes.lock().expect("not poisoned").iter().sum();
    assert!(
        (1..20).contains(&committed),
        "{committed} events in the two committed batches"
    );
    assert_eq!(applied(&side, &read).await, (committed, committed));
    let status = side.status::<BoardV1>().await.unwrap();
    assert_eq!(
        status.checkpoint.position,
        receipts[committed - 1].position.unwrap()
    );
    assert_eq!(status.lag_events, 20 - committed as u64);

    let restarted = quick(side.runner(BoardV1::new(&read))).batch_size(5).spawn();
    restarted.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(applied(&side, &read).await, (20, 20));
    assert_eq!(balance(&side, &read, "crash").await, Some((1..=19).sum()));
    assert_eq!(
        side.query(&BoardV1::new(&read), &EventsOf("crash".into()))
            .await
            .unwrap(),
        Some(20)
    );
    stop(restarted).await;
    clean_up(side, read).await;
}

#[tokio::test]
async fn two_runners_one_leads_and_the_standby_takes_over_when_it_stops() {
    let (bank, side, read) = setup().await;
    bank.open("ha").await;
    for amount in 1..=40 {
        bank.deposit("ha", amount).await;
    }

    let slow = || {
        BoardV1(Board {
            delay: Duration::from_millis(10),
            ..Board::new(&read)
        })
    };
    let first = quick(side.runner(slow())).batch_size(5).spawn();
    until("the first runner to lead", CATCH_UP, || first.is_leader()).await;
    let second = quick(side.runner(slow())).batch_size(5).spawn();
    until("the second runner to stand by", CATCH_UP, || {
        second.state() == RunnerState::Standby
    })
    .await;
    assert!(first.is_leader());
    assert!(!second.is_leader());

    let status = eventually("the first batch to be committed", CATCH_UP, || async {
        let status = side.status::<BoardV1>().await.unwrap();
        (status.checkpoint > Checkpoint::START).then_some(status)
    })
    .await;
    assert!(status.lag_events > 0, "stopped before the end: {status:?}");
    stop(first).await;

    until("the standby to take over", CATCH_UP, || second.is_leader()).await;
    second.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(applied(&side, &read).await, (41, 41));
    assert_eq!(balance(&side, &read, "ha").await, Some((1..=40).sum()));

    // Aborted, the leader's lease is not released: it expires, and then a new runner leads.
    second.abort();
    let third = quick(side.runner(BoardV1::new(&read))).spawn();
    until("a new runner to lead after the abort", CATCH_UP, || {
        third.is_leader()
    })
    .await;
    let receipt = bank.deposit("ha", 1000).await;
    third.wait_for(receipt.position, CATCH_UP).await.unwrap();
    assert_eq!(applied(&side, &read).await, (42, 42));
    stop(third).await;
    clean_up(side, read).await;
}

#[tokio::test]
async fn a_version_bump_resets_the_view_and_rebuilds_it() {
    let (bank, side, read) = setup().await;
    bank.open("v").await;
    bank.deposit("v", 40).await;
    bank.withdraw("v", 15).await;

    let first = quick(side.runner(BoardV1::new(&read))).spawn();
    first.wait_until_caught_up(CATCH_UP).await.unwrap();
    let before = top(&side, &read, 10).await;
    assert_eq!(before, vec![("v".into(), 25)]);
    stop(first).await;

    let v2 = BoardV2(Board::new(&read));
    let calls = v2.0.calls.clone();
    let second = quick(side.runner(v2)).spawn();
    second.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "replayed from the first event");
    assert_eq!(top(&side, &read, 10).await, before);
    assert_eq!(
        applied(&side, &read).await,
        (3, 3),
        "the reset emptied the view first"
    );
    let status = second.status().await.unwrap();
    assert_eq!((status.version, status.stored_version), (2, Some(2)));
    stop(second).await;
    clean_up(side, read).await;
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_read_back() {
    let (bank, side, read) = setup().await;
    bank.open("d").await;
    bank.deposit("d", 10).await;
    let poison = bank.deposit("d", 666).await;
    let last = bank.deposit("d", 5).await;

    let handle = quick(side.runner(BoardV1(Board {
        curse: Some(666),
        ..Board::new(&read)
    })))
    .batch_size(10)
    .on_poison(OnPoison::DeadLetter)
    .spawn();
    handle.wait_for(last.position, CATCH_UP).await.unwrap();
    assert_eq!(balance(&side, &read, "d").await, Some(15));
    assert_eq!(applied(&side, &read).await, (3, 3));

    let letters = handle.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.projection, "redis_board");
    assert_eq!(letter.version, 1);
    assert_eq!(letter.position, poison.position.unwrap());
    assert_eq!(letter.stream_id, "bank.Account-d");
    assert_eq!(letter.stream_version, 3);
    assert_eq!(letter.event_type, "bank.MoneyDeposited");
    assert!(letter.event_id.is_some());
    assert!(letter.error.contains("cursed amount 666"), "{}", letter.error);
    assert_eq!(side.dead_letters::<BoardV1>().await.unwrap(), letters);

    let receipt = bank.deposit("d", 7).await;
    handle.wait_for(receipt.position, CATCH_UP).await.unwrap();
    assert_eq!(balance(&side, &read, "d").await, Some(22));
    stop(handle).await;
    clean_up(side, read).await;
}

#[tokio::test]
async fn queries_cannot_write_through_their_read_only_transaction() {
    let (bank, side, read) = setup().await;
    bank.open("q").await;
    let handle = quick(side.runner(BoardV1::new(&read))).spawn();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();

    for command in ["ZADD", "ZINCRBY", "DEL", "SET", "EVAL", "MULTI", "FLUSHALL"] {
        let error = side
            .query(&BoardV1::new(&read), &SneakyWrite(command))
            .await
            .unwrap_err();
        let QueryError::Handler(handler) = &error else {
            panic!("expected the handler's error for `{command}`, got {error}");
        };
        assert!(
            handler.to_string().contains("not a reading command"),
            "`{command}`: {handler}"
        );
    }
    assert_eq!(balance(&side, &read, "sneaky").await, None);
    assert_eq!(top(&side, &read, 10).await, vec![("q".into(), 0)]);

    // The store's own read-only transactions refuse to queue, and their commit writes nothing.
    let mut tx = read.begin_read_only().await.unwrap();
    let refused = tx
        .connection()
        .queue(redis::cmd("DEL").arg(format!("{}:board", read.key_prefix())));
    assert!(refused.is_err());
    assert_eq!(tx.connection().queued(), 0);
    tx.commit().await.unwrap();
    assert_eq!(top(&side, &read, 10).await, vec![("q".into(), 0)]);
    stop(handle).await;
    clean_up(side, read).await;
}

#[tokio::test]
async fn leases_are_per_prefix_and_projection_and_checked_by_owner() {
    let read = support::redis_read_store().await;
    let other = support::redis_read_store().await;
    let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
    let lease = Duration::from_secs(30);
    let mut first = read.connect().await.unwrap();
    let mut second = read.connect().await.unwrap();

    assert!(read.try_lead(&mut first, "orders", one, lease).await.unwrap());
    assert!(
        read.try_lead(&mut first, "orders", one, lease).await.unwrap(),
        "held again"
    );
    assert!(read.keep_lead(&mut first, "orders", one, lease).await.unwrap());
    assert!(!read.try_lead(&mut second, "orders", two, lease).await.unwrap());
    assert!(!read.keep_lead(&mut second, "orders", two, lease).await.unwrap());
    // Not the owner: the release changes nothing.
    read.release_lead(&mut second, "orders", two).await.unwrap();
    assert!(read.keep_lead(&mut first, "orders", one, lease).await.unwrap());
    assert!(read.try_lead(&mut second, "orders2", two, lease).await.unwrap());
    let mut elsewhere = other.connect().await.unwrap();
    assert!(other
        .try_lead(&mut elsewhere, "orders", two, lease)
        .await
        .unwrap());

    read.release_lead(&mut first, "orders", one).await.unwrap();
    assert!(!read.keep_lead(&mut first, "orders", one, lease).await.unwrap());
    assert!(read.try_lead(&mut second, "orders", two, lease).await.unwrap());

    // A short lease, not renewed, expires.
    assert!(read
        .try_lead(&mut first, "brief", one, Duration::from_millis(50))
        .await
        .unwrap());
    let deadline = std::time::Instant::now() + CATCH_UP;
    while !read.try_lead(&mut second, "brief", two, lease).await.unwrap() {
        assert!(std::time::Instant::now() < deadline, "the lease never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    support::delete_redis_keys(&read).await;
    support::delete_redis_keys(&other).await;
}

/// A checkpoint moved by another runner between the fenced save and the commit aborts the
/// `EXEC`: nothing of the transaction is written, and the error is transient.
#[tokio::test]
async fn a_checkpoint_moved_before_the_commit_aborts_the_transaction() {
    let read = support::redis_read_store().await;
    let key = format!("{}:mine", read.key_prefix());
    let row = |position| chronicle::CheckpointRow {
        version: 1,
        checkpoint: Checkpoint {
            transaction_id: 0,
            position,
        },
    };
    let mut session = read.connect().await.unwrap();
    let mut other = read.connect().await.unwrap();

    let mut tx = RedisReadStore::begin(&mut session).await.unwrap();
    assert!(read
        .save_checkpoint(tx.connection(), "p", None, row(1))
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert_eq!(read.read_checkpoint("p").await.unwrap(), Some(row(1)));

    // A stale previous: refused at once.
    let mut tx = RedisReadStore::begin(&mut session).await.unwrap();
    assert!(!read
        .save_checkpoint(tx.connection(), "p", None, row(2))
        .await
        .unwrap());
    tx.rollback().await.unwrap();

    // Moved by another session after the fenced save: the EXEC is aborted.
    let mut tx = RedisReadStore::begin(&mut session).await.unwrap();
    tx.connection()
        .queue(redis::cmd("SET").arg(&key).arg("written"))
        .unwrap();
    assert!(read
        .save_checkpoint(tx.connection(), "p", Some(row(1)), row(2))
        .await
        .unwrap());
    let mut moving = RedisReadStore::begin(&mut other).await.unwrap();
    assert!(read
        .save_checkpoint(moving.connection(), "p", Some(row(1)), row(5))
        .await
        .unwrap());
    moving.commit().await.unwrap();
    let error = tx.commit().await.unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert_eq!(read.read_checkpoint("p").await.unwrap(), Some(row(5)));
    let mut reads = read.begin_read_only().await.unwrap();
    assert_eq!(reads.connection().get(&key).await.unwrap(), None);
    reads.rollback().await.unwrap();

    // Commands that would break the transaction are refused.
    let mut tx = RedisReadStore::begin(&mut session).await.unwrap();
    for command in ["MULTI", "exec", "WATCH", "DISCARD"] {
        assert!(tx.connection().queue(&redis::cmd(command)).is_err(), "{command}");
    }
    assert_eq!(tx.connection().queued(), 0);
    tx.rollback().await.unwrap();

    // A dropped transaction sends nothing.
    let mut tx = RedisReadStore::begin(&mut session).await.unwrap();
    tx.connection()
        .queue(redis::cmd("SET").arg(&key).arg("dropped"))
        .unwrap();
    drop(tx);
    let mut reads = read.begin_read_only().await.unwrap();
    assert_eq!(reads.connection().get(&key).await.unwrap(), None);
    drop(reads);

    support::delete_redis_keys(&read).await;
}

/// A throwaway Redis server killed mid-catch-up: while it is down the runner and the status
/// report a transient read-store error; once it is back (empty: it keeps nothing on disk) the
/// runner rebuilds and the view equals a replay of the log.
#[tokio::test]
async fn a_redis_restart_mid_catch_up_is_survived() {
    let mut server = ThrowawayRedis::new();
    server.start().await;
    let bank = PgBank::new().await;
    let read = support::redis_read_store_at(&server.url()).await;
    let side = ReadSide::new(bank.store.clone(), read.clone());
    bank.open("r").await;
    for amount in 1..=60 {
        bank.deposit("r", amount).await;
    }
    let board = BoardV1(Board {
        delay: Duration::from_millis(20),
        ..Board::new(&read)
    });
    let handle = quick(side.runner(board)).batch_size(5).spawn();
    let status = eventually("a first batch committed", CATCH_UP, || async {
        let status = side.status::<BoardV1>().await.ok()?;
        (status.checkpoint > Checkpoint::START).then_some(status)
    })
    .await;
    assert!(status.lag_events > 0, "killed mid-catch-up: {status:?}");

    server.stop();
    let error = side.status::<BoardV1>().await.unwrap_err();
    assert!(error.is_transient(), "a typed transient error: {error}");
    let reported = eventually("the runner to report the outage", CATCH_UP, || async {
        handle.status().await.err()
    })
    .await;
    assert!(reported.is_transient(), "{reported}");

    server.start().await;
    read.migrate().await.unwrap();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(balance(&side, &read, "r").await, Some((1..=60).sum()));
    // Equal to a replay of the log: every event once, nothing of before the restart twice.
    assert_eq!(applied(&side, &read).await, (61, 61));
    assert_eq!(
        side.query(&BoardV1::new(&read), &EventsOf("r".into()))
            .await
            .unwrap(),
        Some(61)
    );
    let status = handle.status().await.unwrap();
    assert!(
        status.last_error.is_some(),
        "the outage is remembered: {status:?}"
    );
    stop(handle).await;
    drop(side);
    drop(server);
}

/// The store's own error classification: a refused connection is transient, a wrong type is not.
#[tokio::test]
async fn client_errors_are_sorted_into_transient_and_not() {
    let read = support::redis_read_store().await;
    let key = format!("{}:text", read.key_prefix());
    let mut session = read.connect().await.unwrap();
    let mut tx = RedisReadStore::begin(&mut session).await.unwrap();
    tx.connection()
        .queue(redis::cmd("SET").arg(&key).arg("text"))
        .unwrap();
    tx.commit().await.unwrap();
    let mut reads = read.begin_read_only().await.unwrap();
    let error = reads
        .connection()
        .read::<Option<f64>>(redis::cmd("ZSCORE").arg(&key).arg("m"))
        .await
        .unwrap_err();
    assert!(!RedisReadStore::is_transient(&HandlerError::new(error)));
    drop(reads);

    let nowhere = RedisReadStore::open("redis://127.0.0.1:1").unwrap();
    let error = nowhere.connect().await.unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(RedisReadStore::is_transient(&HandlerError::new(error)));
    RedisReadStore::close(session).await;
    support::delete_redis_keys(&read).await;
}

/// Two workers of the leaderboard in three partitions, on Redis: leases per partition and per
/// worker slot, each event applied once, read-your-writes on the receipt's partition.
#[tokio::test]
async fn a_partitioned_leaderboard_applies_each_event_once() {
    let (bank, side, read) = setup().await;
    for n in 0..9 {
        let account = format!("r{n}");
        bank.open(&account).await;
        for amount in 1..=3 {
            bank.deposit(&account, amount).await;
        }
    }
    let start = || {
        PartitionedRunner::new(bank.store.clone(), read.clone(), BoardV1::new(&read), 3)
            .batch_size(4)
            .poll_interval(Duration::from_millis(50))
            .lease(Duration::from_secs(2))
            .spawn()
    };
    let (one, two) = (start(), start());
    until("both workers lead", CATCH_UP, || {
        one.led().len() + two.led().len() == 3 && !one.led().is_empty() && !two.led().is_empty()
    })
    .await;
    let receipt = bank.deposit("r4", 10).await;
    two.wait_for(&receipt, CATCH_UP).await.unwrap();
    one.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(applied(&side, &read).await, (37, 37));
    assert_eq!(balance(&side, &read, "r4").await, Some(16));
    assert_eq!(top(&side, &read, 1).await, vec![("r4".to_owned(), 16)]);
    for worker in [one, two] {
        worker.stop().await.into_result().unwrap();
    }
    clean_up(side, read).await;
}
