//! Read models in MariaDB, fed from a Postgres event store: a `#[projection]` whose handlers take
//! `&mut MySqlConnection` and whose `#[query]` methods take `&mut ReadOnly<'_, MySqlConnection>`,
//! run by a `ProjectionRunner`: catch-up, live appends, read-your-writes, a crash before the
//! commit, a standby runner taking over, a version bump, a poison event dead-lettered; queries that
//! cannot write; the named locks, timestamps, concurrent migrations and error classification of
//! `MySqlReadStore` itself.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::pace::quick;
use super::pace::stop;
use bank::{AccountOpened, MoneyDeposited, MoneyWithdrawn};
use chronicle::prelude::*;
use chronicle::sqlx::{self, MySqlConnection};
use chronicle::{BoxError, Checkpoint, DeadLetter, DeadLetters, HandlerError, ReadTransaction, RunnerState};
use chronicle_tests::support::{self, PgBank};
use chronicle_tests::wait::{eventually, until};
use chrono::{TimeZone, Utc};
use uuid::Uuid;

const CATCH_UP: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
#[error("cursed amount {0}")]
struct Cursed(i64);

/// Each account's balance and event count, and every application of an event (a repeated event
/// shows up as a duplicate).
#[derive(Default)]
struct Tally {
    /// A deposit of this amount makes the handler fail.
    curse: Option<i64>,
    /// A pause in every handler, to stretch a catch-up.
    delay: Duration,
    /// How many times a handler ran (committed or not).
    calls: Arc<AtomicU32>,
}

impl Tally {
    fn cursed(amount: i64) -> Self {
        Self {
            curse: Some(amount),
            ..Self::default()
        }
    }

    fn slow(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }
}

/// Creates the view's tables (committed at once by MariaDB, as any DDL) and empties them.
async fn reset_tables(db: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    // One statement per call (`raw_sql`'s future would not be `Send` here).
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS tally (account_id VARCHAR(200) PRIMARY KEY, owner TEXT NULL, \
         balance BIGINT NOT NULL, events BIGINT NOT NULL) ENGINE = InnoDB",
    )
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS tally_applied (position BIGINT NOT NULL, event_id CHAR(36) NOT NULL) \
         ENGINE = InnoDB",
    )
    .execute(&mut *db)
    .await?;
    sqlx::query("DELETE FROM tally").execute(&mut *db).await?;
    sqlx::query("DELETE FROM tally_applied").execute(&mut *db).await?;
    Ok(())
}

impl Tally {
    async fn apply(
        &self,
        db: &mut MySqlConnection,
        meta: &RecordedEvent,
        account: &str,
        owner: Option<&str>,
        amount: i64,
    ) -> Result<(), BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if Some(amount) == self.curse {
            return Err(Cursed(amount).into());
        }
        sqlx::query(
            "INSERT INTO tally (account_id, owner, balance, events) VALUES (?, ?, ?, 1) \
             ON DUPLICATE KEY UPDATE balance = balance + VALUES(balance), events = events + 1, \
             owner = COALESCE(VALUES(owner), owner)",
        )
        .bind(account)
        .bind(owner)
        .bind(amount)
        .execute(&mut *db)
        .await?;
        sqlx::query("INSERT INTO tally_applied (position, event_id) VALUES (?, ?)")
            .bind(i64::try_from(meta.position)?)
            .bind(meta.event_id.to_string())
            .execute(&mut *db)
            .await?;
        Ok(())
    }
}

/// The handlers of a tally of version `$version`, and the methods given, as a `#[projection]`.
macro_rules! tally_projection {
    ($name:ident, $version:literal $(, $($queries:tt)*)?) => {
        #[projection(name = "mysql_tally", version = $version)]
        impl $name {
            #[reset]
            async fn reset(&self, db: &mut MySqlConnection) -> Result<(), sqlx::Error> {
                reset_tables(db).await
            }

            #[on]
            async fn opened(
                &self,
                event: &AccountOpened,
                meta: &RecordedEvent,
                db: &mut MySqlConnection,
            ) -> Result<(), BoxError> {
                self.0.apply(db, meta, &event.account_id, Some(&event.owner), 0).await
            }

            #[on]
            async fn deposited(
                &self,
                event: &MoneyDeposited,
                meta: &RecordedEvent,
                db: &mut MySqlConnection,
            ) -> Result<(), BoxError> {
                self.0.apply(db, meta, &event.account_id, None, event.amount).await
            }

            #[on]
            async fn withdrawn(
                &self,
                event: &MoneyWithdrawn,
                meta: &RecordedEvent,
                db: &mut MySqlConnection,
            ) -> Result<(), BoxError> {
                self.0.apply(db, meta, &event.account_id, None, -event.amount).await
            }

            $($($queries)*)?
        }
    };
}

/// Version 1 of the tally, with its queries.
#[derive(Default)]
struct TallyV1(Tally);
tally_projection! {
    TallyV1,
    1,
    #[query]
    async fn balance(
        &self,
        query: &BalanceOf,
        db: &mut ReadOnly<'_, MySqlConnection>,
    ) -> Result<Option<i64>, sqlx::Error> {
        db.fetch_optional(
            sqlx::query_scalar::<_, i64>("SELECT balance FROM tally WHERE account_id = ?").bind(&query.0),
        )
        .await
    }
    #[query]
    async fn everything(
        &self,
        _query: &Everything,
        db: &mut ReadOnly<'_, MySqlConnection>,
    ) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
        db.fetch_all(sqlx::query_as::<_, (String, i64, i64)>(
            "SELECT account_id, balance, events FROM tally ORDER BY account_id",
        ))
        .await
    }
    #[query]
    async fn applied(
        &self,
        _query: &Applied,
        db: &mut ReadOnly<'_, MySqlConnection>,
    ) -> Result<(i64, i64), sqlx::Error> {
        db.fetch_one(sqlx::query_as::<_, (i64, i64)>(
            "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM tally_applied",
        ))
        .await
    }
    #[query]
    async fn sneaky(
        &self,
        query: &SneakyWrite,
        db: &mut ReadOnly<'_, MySqlConnection>,
    ) -> Result<(), sqlx::Error> {
        // The only way to run SQL is a reading method; hand it a write.
        db.fetch_optional(sqlx::query(query.0)).await.map(drop)
    }
}

/// Version 2 of the tally: the same view, rebuilt.
#[derive(Default)]
struct TallyV2(Tally);
tally_projection!(TallyV2, 2);

/// One account's balance.
#[derive(Query)]
#[query(output = Option<i64>, read_model = TallyV1)]
struct BalanceOf(String);

/// Every account: id, balance, events counted.
#[derive(Query)]
#[query(output = Vec<(String, i64, i64)>, read_model = TallyV1)]
struct Everything;

/// How many events were applied, and how many distinct ones.
#[derive(Query)]
#[query(output = (i64, i64), read_model = TallyV1)]
struct Applied;

/// A "query" that runs the statement it holds, which writes.
#[derive(Query)]
#[query(output = (), read_model = TallyV1)]
struct SneakyWrite(&'static str);

type Side = ReadSide<PostgresStore, MySqlReadStore>;

/// Events in Postgres, read models in a MariaDB database of the test's own.
async fn setup() -> (PgBank, Side, MySqlReadStore) {
    let bank = PgBank::new().await;
    let read = support::mysql_read_store().await;
    let side = ReadSide::new(bank.store.clone(), read.clone());
    (bank, side, read)
}

async fn applied(side: &Side) -> (i64, i64) {
    side.query(&TallyV1::default(), &Applied)
        .await
        .expect("count applied events")
}

async fn balance(side: &Side, account: &str) -> Option<i64> {
    side.query(&TallyV1::default(), &BalanceOf(account.into()))
        .await
        .expect("read a balance")
}

async fn clean_up(side: Side, read: MySqlReadStore) {
    drop(side);
    support::drop_mysql_database(&read).await;
}

#[tokio::test]
async fn catch_up_live_appends_and_read_your_writes() {
    let (bank, side, read) = setup().await;
    for account in ["a", "b"] {
        bank.open(account).await;
    }
    for amount in 1..=10 {
        bank.deposit("a", amount).await;
        bank.deposit("b", amount).await;
    }
    bank.withdraw("b", 5).await;

    let handle = quick(side.runner(TallyV1::default())).batch_size(4).spawn();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(
        side.query(&TallyV1::default(), &Everything).await.unwrap(),
        vec![("a".into(), 55, 11), ("b".into(), 50, 12)]
    );
    assert_eq!(applied(&side).await, (23, 23));
    let status = handle.status().await.unwrap();
    assert_eq!(status.lag_events, 0);
    assert!(status.leader);

    // Live: each append reaches the view, and a consistent query waits for it.
    for amount in [100, 200, 300] {
        let receipt = bank.deposit("a", amount).await;
        let seen = side
            .query_consistent(&TallyV1::default(), &BalanceOf("a".into()), &receipt, CATCH_UP)
            .await
            .unwrap();
        assert!(seen >= Some(55 + amount), "{seen:?}");
    }
    assert_eq!(balance(&side, "a").await, Some(655));
    let receipt = bank.withdraw("b", 1).await;
    side.wait_for::<TallyV1>(receipt.position, CATCH_UP)
        .await
        .unwrap();
    assert_eq!(balance(&side, "b").await, Some(49));
    assert_eq!(applied(&side).await, (27, 27));
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
    let handle = quick(side.runner(TallyV1::default()))
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
    assert_eq!(applied(&side).await, (committed as i64, committed as i64));
    let status = side.status::<TallyV1>().await.unwrap();
    assert_eq!(
        status.checkpoint.position,
        receipts[committed - 1].position.unwrap()
    );
    assert_eq!(status.lag_events, 20 - committed as u64);

    let restarted = quick(side.runner(TallyV1::default())).batch_size(5).spawn();
    restarted.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(applied(&side).await, (20, 20));
    assert_eq!(
        side.query(&TallyV1::default(), &Everything).await.unwrap(),
        vec![("crash".into(), (1..=19).sum(), 20)]
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

    let slow = || TallyV1(Tally::slow(Duration::from_millis(10)));
    let first = quick(side.runner(slow())).batch_size(5).spawn();
    until("the first runner to lead", CATCH_UP, || first.is_leader()).await;
    let second = quick(side.runner(slow())).batch_size(5).spawn();
    until("the second runner to stand by", CATCH_UP, || {
        second.state() == RunnerState::Standby
    })
    .await;
    assert!(first.is_leader());
    assert!(!second.is_leader());

    // Stop the leader in the middle of the catch-up.
    let status = eventually("the first batch to be committed", CATCH_UP, || async {
        let status = side.status::<TallyV1>().await.unwrap();
        (status.checkpoint > Checkpoint::START).then_some(status)
    })
    .await;
    assert!(status.lag_events > 0, "stopped before the end: {status:?}");
    stop(first).await;

    until("the standby to take over", CATCH_UP, || second.is_leader()).await;
    second.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(applied(&side).await, (41, 41));
    assert_eq!(balance(&side, "ha").await, Some((1..=40).sum()));

    // A third runner, aborted while it stands by, changes nothing; the leader follows live
    // appends.
    let third = quick(side.runner(slow())).spawn();
    until("the third runner to stand by", CATCH_UP, || {
        third.state() == RunnerState::Standby
    })
    .await;
    third.abort();
    let receipt = bank.deposit("ha", 1000).await;
    second.wait_for(receipt.position, CATCH_UP).await.unwrap();
    assert_eq!(applied(&side).await, (42, 42));

    // Aborted, the leader's connection closes and MariaDB frees its lock for the next runner.
    second.abort();
    let fourth = quick(side.runner(TallyV1::default())).spawn();
    until("a new runner to lead after the abort", CATCH_UP, || {
        fourth.is_leader()
    })
    .await;
    stop(fourth).await;
    clean_up(side, read).await;
}

#[tokio::test]
async fn a_version_bump_resets_the_view_and_rebuilds_it() {
    let (bank, side, read) = setup().await;
    bank.open("v").await;
    bank.deposit("v", 40).await;
    bank.withdraw("v", 15).await;

    let first = quick(side.runner(TallyV1::default())).spawn();
    first.wait_until_caught_up(CATCH_UP).await.unwrap();
    let before = side.query(&TallyV1::default(), &Everything).await.unwrap();
    assert_eq!(before, vec![("v".into(), 25, 3)]);
    stop(first).await;

    let v2 = TallyV2::default();
    let calls = v2.0.calls.clone();
    let second = quick(side.runner(v2)).spawn();
    second.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "replayed from the first event");
    assert_eq!(
        side.query(&TallyV1::default(), &Everything).await.unwrap(),
        before
    );
    assert_eq!(applied(&side).await, (3, 3));
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

    let handle = quick(side.runner(TallyV1(Tally::cursed(666))))
        .batch_size(10)
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    handle.wait_for(last.position, CATCH_UP).await.unwrap();
    assert_eq!(balance(&side, "d").await, Some(15));
    assert_eq!(applied(&side).await, (3, 3));

    let letters = handle.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.projection, "mysql_tally");
    assert_eq!(letter.version, 1);
    assert_eq!(letter.position, poison.position.unwrap());
    assert_eq!(letter.stream_id, "bank.Account-d");
    assert_eq!(letter.stream_version, 3);
    assert_eq!(letter.event_type, "bank.MoneyDeposited");
    assert!(letter.event_id.is_some());
    assert!(letter.error.contains("cursed amount 666"), "{}", letter.error);
    let age = Utc::now() - letter.recorded_at;
    assert!(
        age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::minutes(1),
        "recorded just now, in UTC: {}",
        letter.recorded_at
    );
    assert_eq!(side.dead_letters::<TallyV1>().await.unwrap(), letters);

    let receipt = bank.deposit("d", 7).await;
    handle.wait_for(receipt.position, CATCH_UP).await.unwrap();
    assert_eq!(balance(&side, "d").await, Some(22));
    assert!(handle.is_leader());
    stop(handle).await;
    clean_up(side, read).await;
}

/// The error number of a query's failure.
fn mysql_error_number(error: &QueryError) -> Option<u16> {
    let QueryError::Handler(handler) = error else {
        panic!("expected the handler's error, got {error}");
    };
    handler
        .0
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|e| e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .map(|e| e.number())
}

#[tokio::test]
async fn queries_cannot_write_through_their_read_only_transaction() {
    let (bank, side, read) = setup().await;
    bank.open("q").await;
    let handle = quick(side.runner(TallyV1::default())).spawn();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();

    for statement in [
        "INSERT INTO tally (account_id, owner, balance, events) VALUES ('sneaky', 'Mallory', 1000000, 1)",
        "UPDATE tally SET balance = 1000000",
        "DELETE FROM tally",
        // DDL commits the transaction before it runs: the session being read-only still
        // refuses it, and what would follow it.
        "CREATE TABLE sneaky (a INT)",
        "CREATE TEMPORARY TABLE sneaky (a INT)",
    ] {
        let error = side
            .query(&TallyV1::default(), &SneakyWrite(statement))
            .await
            .unwrap_err();
        assert_eq!(
            mysql_error_number(&error),
            Some(1792),
            "ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION for `{statement}`: {error}"
        );
    }
    assert_eq!(balance(&side, "sneaky").await, None);
    assert_eq!(balance(&side, "q").await, Some(0));
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'sneaky'",
    )
    .fetch_one(read.pool())
    .await
    .unwrap();
    assert_eq!(tables, 0);

    // The store's own read-only transactions refuse writes as well.
    let mut tx = read.begin_read_only().await.unwrap();
    let error = sqlx::query("DELETE FROM tally")
        .execute(&mut *tx.connection())
        .await
        .unwrap_err();
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("25006")
    );
    tx.rollback().await.unwrap();
    stop(handle).await;
    clean_up(side, read).await;
}

#[tokio::test]
async fn named_locks_are_per_database_and_projection_and_held_by_one_session() {
    let read = support::mysql_read_store().await;
    let other = support::mysql_read_store().await;
    let owner = Uuid::new_v4();
    let lease = Duration::from_secs(1);
    // Longer than a lock name may be: it is hashed.
    let long = "p".repeat(300);

    let mut first = read.connect().await.unwrap();
    let mut second = read.connect().await.unwrap();
    let mut elsewhere = other.connect().await.unwrap();
    for projection in ["orders", long.as_str()] {
        assert!(read.try_lead(&mut first, projection, owner, lease).await.unwrap());
        assert!(read
            .keep_lead(&mut first, projection, owner, lease)
            .await
            .unwrap());
        assert!(
            !read
                .try_lead(&mut second, projection, owner, lease)
                .await
                .unwrap(),
            "another session of the same database waits"
        );
        assert!(!read
            .keep_lead(&mut second, projection, owner, lease)
            .await
            .unwrap());
        assert!(
            other
                .try_lead(&mut elsewhere, projection, owner, lease)
                .await
                .unwrap(),
            "the same projection in another database is another lock"
        );
    }
    assert!(
        read.try_lead(&mut second, "orders2", owner, lease).await.unwrap(),
        "another projection is another lock"
    );

    read.release_lead(&mut first, "orders", owner).await.unwrap();
    assert!(!read.keep_lead(&mut first, "orders", owner, lease).await.unwrap());
    assert!(read.try_lead(&mut second, "orders", owner, lease).await.unwrap());

    // A closed session frees its locks, once the server has seen it go (a moment later).
    MySqlReadStore::close(first).await;
    let deadline = std::time::Instant::now() + CATCH_UP;
    while !read.try_lead(&mut second, &long, owner, lease).await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the closed session's lock was never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    MySqlReadStore::close(second).await;
    MySqlReadStore::close(elsewhere).await;
    support::drop_mysql_database(&read).await;
    support::drop_mysql_database(&other).await;
}

#[tokio::test]
async fn dead_letters_and_times_round_trip_to_the_microsecond() {
    let read = support::mysql_read_store().await;
    let at = Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 58).unwrap() + chrono::Duration::microseconds(123_456);
    let letter = |position: u64, version: u32| DeadLetter {
        projection: "Orders".into(),
        version,
        position,
        transaction_id: 7,
        event_id: (position % 2 == 0).then(|| Uuid::from_u128(u128::from(position))),
        stream_id: format!("shop.Order-{}", "é".repeat(300)),
        stream_version: 3,
        event_type: "shop.OrderPlaced".into(),
        error: format!("failed at {position}: ünïcödé"),
        recorded_at: at,
        retry_requested_at: None,
    };
    let mut session = read.connect().await.unwrap();
    let mut tx = MySqlReadStore::begin(&mut session).await.unwrap();
    for (position, version) in [(1, 1), (2, 1), (3, 1), (4, 2)] {
        read.record_dead_letter(tx.connection(), &letter(position, version))
            .await
            .unwrap();
    }
    // Recorded again: replaced, with the new error.
    let again = DeadLetter {
        error: "again".into(),
        ..letter(2, 1)
    };
    read.record_dead_letter(tx.connection(), &again).await.unwrap();
    tx.commit().await.unwrap();

    let letters = read.dead_letters("Orders", 1).await.unwrap();
    assert_eq!(letters.len(), 3);
    assert_eq!(letters[0], letter(1, 1));
    assert_eq!(letters[0].recorded_at, at, "to the microsecond");
    assert_eq!(letters[1].error, "again");
    assert_eq!(letters[1].event_id, again.event_id);
    assert!(
        read.dead_letters("orders", 1).await.unwrap().is_empty(),
        "names are compared exactly, not by a case-insensitive collation"
    );

    let mut tx = MySqlReadStore::begin(&mut session).await.unwrap();
    read.delete_dead_letters(tx.connection(), "Orders", DeadLetters::AtPositions(&[1, 3, 99]))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let left: Vec<u64> = read
        .dead_letters("Orders", 1)
        .await
        .unwrap()
        .iter()
        .map(|l| l.position)
        .collect();
    assert_eq!(left, vec![2]);

    let mut tx = MySqlReadStore::begin(&mut session).await.unwrap();
    read.delete_dead_letters(tx.connection(), "Orders", DeadLetters::NotOfVersion(2))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(read.dead_letters("Orders", 1).await.unwrap().is_empty());
    assert_eq!(read.dead_letters("Orders", 2).await.unwrap(), vec![letter(4, 2)]);

    MySqlReadStore::close(session).await;
    support::drop_mysql_database(&read).await;
}

#[tokio::test]
async fn migrations_run_concurrently_and_again() {
    let read = support::mysql_read_store().await;
    let clones: Vec<MySqlReadStore> = (0..4).map(|_| read.clone()).collect();
    let runs = clones.iter().map(|store| store.migrate());
    for outcome in futures_util::future::join_all(runs).await {
        outcome.expect("a concurrent migration");
    }
    ReadStore::migrate(&read).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() \
         AND table_name LIKE 'chronicle\\_%'",
    )
    .fetch_one(read.pool())
    .await
    .unwrap();
    assert_eq!(tables, 4);
    support::drop_mysql_database(&read).await;
}

/// Driver failures as a handler meets them: a lock wait timeout and a killed session are
/// transient, a duplicate key is not.
#[tokio::test]
async fn driver_errors_are_sorted_into_transient_and_not() {
    let read = support::mysql_read_store().await;
    let pool = read.pool();
    sqlx::raw_sql("CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL); INSERT INTO t VALUES (1, 0)")
        .execute(pool)
        .await
        .unwrap();
    let transient = |error: sqlx::Error| MySqlReadStore::is_transient(&HandlerError::new(error));

    // 1205: a row lock not granted in time.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT n FROM t WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    let mut waiter = pool.acquire().await.unwrap();
    sqlx::query("SET SESSION innodb_lock_wait_timeout = 1")
        .execute(&mut *waiter)
        .await
        .unwrap();
    let error = sqlx::query("UPDATE t SET n = 1 WHERE id = 1")
        .execute(&mut *waiter)
        .await
        .unwrap_err();
    assert_eq!(
        error
            .as_database_error()
            .and_then(|e| e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
            .map(|e| e.number()),
        Some(1205),
        "{error}"
    );
    assert!(transient(error));
    holder.rollback().await.unwrap();
    drop(waiter);

    // 1062: a duplicate key, which no retry cures.
    let error = sqlx::query("INSERT INTO t VALUES (1, 0)")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(!transient(error));

    // A session killed by the server: what the handler sees next is transient.
    let mut victim = pool.acquire().await.unwrap().detach();
    let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut victim)
        .await
        .unwrap();
    sqlx::query(&format!("KILL {id}")).execute(pool).await.unwrap();
    let error = sqlx::query("SELECT 1").execute(&mut victim).await.unwrap_err();
    assert!(transient(error));

    support::drop_mysql_database(&read).await;
}

/// The shared counting view of `chronicle_tests::counts`, on MariaDB.
#[tokio::test]
async fn the_shared_counting_view_counts_each_event_once() {
    let (bank, side, read) = setup().await;
    bank.open("c").await;
    let last = bank.deposit("c", 3).await;
    let counts = chronicle::SqlReadStore::from(read.clone());
    let handle = quick(ProjectionRunner::new(
        bank.store.clone(),
        counts,
        chronicle_tests::counts::PortableCounts,
    ))
    .spawn();
    handle.wait_for(last.position, CATCH_UP).await.unwrap();
    let n: Option<i64> = sqlx::query_scalar("SELECT n FROM robust_counts WHERE stream_id = ?")
        .bind("bank.Account-c")
        .fetch_optional(read.pool())
        .await
        .unwrap();
    assert_eq!(n, Some(2));
    stop(handle).await;
    clean_up(side, read).await;
}
