//! Projection runners fed from a Postgres (or SQLite) event store, writing read models next to
//! the events (level 1), in another Postgres database or in a SQLite file (level 2); and queries
//! through read-only transactions.
//!
//! The projection and its queries are written by hand here, as `#[projection]` would generate
//! them, so these tests do not depend on the macro.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bank::{AccountOpened, Deposit, MoneyDeposited, MoneyWithdrawn, OpenAccount};
use chronicle::sqlx::{PgConnection, SqliteConnection};
use chronicle::{
    Answer, Checkpoint, Chronicle, EventSource, HandlerError, OnPoison, PostgresReadStore, PostgresStore,
    Projection, ProjectionError, ProjectionRunner, Query, QueryError, ReadOnly, ReadSide, ReadStore,
    RecordedEvent, SqliteReadStore,
};
use chronicle::{BoxFuture, EventStore, ReadStoreError, RunnerState};
use chronicle_tests::spy::Spy;
use chronicle_tests::support;

use super::pace::{quick, stop};
use chronicle_tests::wait::{eventually, until};

// ---------------------------------------------------------------------------------------------
// A hand-written projection: balances per account, and a log of every applied event so that a
// repeated event shows up as a duplicate.
// ---------------------------------------------------------------------------------------------

const TYPES: &[&str] = &["bank.AccountOpened", "bank.MoneyDeposited", "bank.MoneyWithdrawn"];

#[derive(Debug, thiserror::Error)]
#[error("cursed amount {0}")]
struct Cursed(i64);

struct Balances<C, const V: u32 = 1, const RESET: bool = true> {
    /// A deposit of this amount makes the handler fail.
    curse: Option<i64>,
    /// A pause in every handler, to stretch a catch-up.
    delay: Duration,
    /// How many times a handler ran (committed or not).
    calls: Arc<AtomicU32>,
    /// How many times the cursed handler ran.
    cursed_calls: Arc<AtomicU32>,
    _connection: PhantomData<fn() -> C>,
}

impl<C, const V: u32, const RESET: bool> Balances<C, V, RESET> {
    fn new() -> Self {
        Self {
            curse: None,
            delay: Duration::ZERO,
            calls: Arc::default(),
            cursed_calls: Arc::default(),
            _connection: PhantomData,
        }
    }

    fn cursed(amount: i64) -> Self {
        Self {
            curse: Some(amount),
            ..Self::new()
        }
    }

    fn slow(delay: Duration) -> Self {
        Self { delay, ..Self::new() }
    }

    fn change(&self, event: &RecordedEvent) -> Result<Change, HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let payload = event.payload.get();
        match event.event_type.as_str() {
            "bank.AccountOpened" => {
                let opened: AccountOpened = serde_json::from_str(payload).map_err(HandlerError::new)?;
                Ok(Change::Open {
                    account: opened.account_id,
                    owner: opened.owner,
                })
            }
            "bank.MoneyDeposited" => {
                let deposited: MoneyDeposited = serde_json::from_str(payload).map_err(HandlerError::new)?;
                if Some(deposited.amount) == self.curse {
                    self.cursed_calls.fetch_add(1, Ordering::SeqCst);
                    return Err(HandlerError::new(Cursed(deposited.amount)));
                }
                Ok(Change::Add {
                    account: deposited.account_id,
                    amount: deposited.amount,
                })
            }
            "bank.MoneyWithdrawn" => {
                let withdrawn: MoneyWithdrawn = serde_json::from_str(payload).map_err(HandlerError::new)?;
                Ok(Change::Add {
                    account: withdrawn.account_id,
                    amount: -withdrawn.amount,
                })
            }
            other => Err(HandlerError::new(format!("unexpected event type {other}"))),
        }
    }
}

enum Change {
    Open { account: String, owner: String },
    Add { account: String, amount: i64 },
}

/// Postgres numbers its parameters `$1`, SQLite `?1`.
fn dialect(sqlite: bool, sql: &str) -> String {
    if sqlite {
        sql.replace('$', "?")
    } else {
        sql.to_owned()
    }
}

macro_rules! balances_projection {
    ($connection:ty, $store:ty, $sqlite:literal) => {
        impl<const V: u32, const RESET: bool> Projection for Balances<$connection, V, RESET> {
            const NAME: &'static str = "balances";
            const VERSION: u32 = V;
            const EVENT_TYPES: &'static [&'static str] = TYPES;
            const HAS_RESET: bool = RESET;
            type Store = $store;

            fn apply<'a>(
                &'a self,
                event: &'a RecordedEvent,
                db: &'a mut $connection,
            ) -> BoxFuture<'a, Result<(), HandlerError>> {
                Box::pin(async move {
                    let change = self.change(event)?;
                    if !self.delay.is_zero() {
                        tokio::time::sleep(self.delay).await;
                    }
                    match change {
                        Change::Open { account, owner } => {
                            let sql = dialect(
                                $sqlite,
                                "INSERT INTO balances (account_id, owner, balance) VALUES ($1, $2, 0)",
                            );
                            sqlx::query(&sql)
                                .bind(account)
                                .bind(owner)
                                .execute(&mut *db)
                                .await
                                .map_err(HandlerError::new)?;
                        }
                        Change::Add { account, amount } => {
                            let sql = dialect(
                                $sqlite,
                                "UPDATE balances SET balance = balance + $2 WHERE account_id = $1",
                            );
                            sqlx::query(&sql)
                                .bind(account)
                                .bind(amount)
                                .execute(&mut *db)
                                .await
                                .map_err(HandlerError::new)?;
                        }
                    }
                    let sql = dialect(
                        $sqlite,
                        "INSERT INTO applied (position, event_id) VALUES ($1, $2)",
                    );
                    sqlx::query(&sql)
                        .bind(event.position as i64)
                        .bind(event.event_id.to_string())
                        .execute(&mut *db)
                        .await
                        .map_err(HandlerError::new)?;
                    Ok(())
                })
            }

            fn reset<'a>(&'a self, db: &'a mut $connection) -> BoxFuture<'a, Result<(), HandlerError>> {
                Box::pin(async move {
                    if !RESET {
                        return Ok(());
                    }
                    for sql in ["DELETE FROM applied", "DELETE FROM balances"] {
                        sqlx::query(sql)
                            .execute(&mut *db)
                            .await
                            .map_err(HandlerError::new)?;
                    }
                    Ok(())
                })
            }
        }
    };
}

balances_projection!(PgConnection, PostgresReadStore, false);
balances_projection!(SqliteConnection, SqliteReadStore, true);

// Queries, generic over the connection only so that one declaration serves both stores.

/// One account's balance.
struct BalanceOf<C>(String, PhantomData<fn() -> C>);
/// Every account: id, owner, balance.
struct AllBalances<C>(PhantomData<fn() -> C>);
/// How many events were applied, and how many distinct ones.
struct AppliedCount<C>(PhantomData<fn() -> C>);
/// A "query" that tries to write.
struct SneakyWrite<C>(PhantomData<fn() -> C>);

fn balance_of<C>(account: &str) -> BalanceOf<C> {
    BalanceOf(account.to_owned(), PhantomData)
}

type Row = (String, String, i64);

macro_rules! balances_queries {
    ($connection:ty, $sqlite:literal) => {
        impl Query for BalanceOf<$connection> {
            type Output = Option<i64>;
            type ReadModel = Balances<$connection>;
        }

        impl Answer<BalanceOf<$connection>> for Balances<$connection> {
            fn answer<'a, 'c: 'a>(
                &'a self,
                query: &'a BalanceOf<$connection>,
                db: &'a mut ReadOnly<'c, $connection>,
            ) -> BoxFuture<'a, Result<Option<i64>, HandlerError>> {
                Box::pin(async move {
                    let sql = dialect($sqlite, "SELECT balance FROM balances WHERE account_id = $1");
                    db.fetch_optional(sqlx::query_scalar::<_, i64>(&sql).bind(&query.0))
                        .await
                        .map_err(HandlerError::new)
                })
            }
        }

        impl Query for AllBalances<$connection> {
            type Output = Vec<Row>;
            type ReadModel = Balances<$connection>;
        }

        impl Answer<AllBalances<$connection>> for Balances<$connection> {
            fn answer<'a, 'c: 'a>(
                &'a self,
                _query: &'a AllBalances<$connection>,
                db: &'a mut ReadOnly<'c, $connection>,
            ) -> BoxFuture<'a, Result<Vec<Row>, HandlerError>> {
                Box::pin(async move {
                    db.fetch_all(sqlx::query_as::<_, Row>(
                        "SELECT account_id, owner, balance FROM balances ORDER BY account_id",
                    ))
                    .await
                    .map_err(HandlerError::new)
                })
            }
        }

        impl Query for AppliedCount<$connection> {
            type Output = (i64, i64);
            type ReadModel = Balances<$connection>;
        }

        impl Answer<AppliedCount<$connection>> for Balances<$connection> {
            fn answer<'a, 'c: 'a>(
                &'a self,
                _query: &'a AppliedCount<$connection>,
                db: &'a mut ReadOnly<'c, $connection>,
            ) -> BoxFuture<'a, Result<(i64, i64), HandlerError>> {
                Box::pin(async move {
                    db.fetch_one(sqlx::query_as::<_, (i64, i64)>(
                        "SELECT count(*), count(DISTINCT event_id) FROM applied",
                    ))
                    .await
                    .map_err(HandlerError::new)
                })
            }
        }

        impl Query for SneakyWrite<$connection> {
            type Output = ();
            type ReadModel = Balances<$connection>;
        }

        impl Answer<SneakyWrite<$connection>> for Balances<$connection> {
            fn answer<'a, 'c: 'a>(
                &'a self,
                _query: &'a SneakyWrite<$connection>,
                db: &'a mut ReadOnly<'c, $connection>,
            ) -> BoxFuture<'a, Result<(), HandlerError>> {
                Box::pin(async move {
                    // The only way to run SQL is a reading method; hand it a write.
                    db.fetch_optional(sqlx::query(
                        "INSERT INTO balances (account_id, owner, balance) VALUES ('sneaky', 'Mallory', 1000000)",
                    ))
                    .await
                    .map_err(HandlerError::new)?;
                    Ok(())
                })
            }
        }
    };
}

balances_queries!(PgConnection, false);
balances_queries!(SqliteConnection, true);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

type PgBalances = Balances<PgConnection>;
type PgSide = ReadSide<PostgresStore, PostgresReadStore>;

/// Events in Postgres, and a write side on them.
type Bank = support::PgBank;

async fn create_pg_tables(read: &PostgresReadStore) {
    let schema = read.schema();
    sqlx::raw_sql(&format!(
        "CREATE TABLE \"{schema}\".balances (account_id text PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL);
         CREATE TABLE \"{schema}\".applied (position bigint NOT NULL, event_id text NOT NULL);"
    ))
    .execute(read.pool())
    .await
    .expect("create read-model tables");
}

async fn create_sqlite_tables(read: &SqliteReadStore) {
    sqlx::raw_sql(
        "CREATE TABLE balances (account_id TEXT PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL);
         CREATE TABLE applied (position INTEGER NOT NULL, event_id TEXT NOT NULL);",
    )
    .execute(read.pool())
    .await
    .expect("create read-model tables");
}

/// Level 1: events and read model in one Postgres database and schema.
async fn level_1() -> (Bank, PgSide) {
    let bank = Bank::new().await;
    let read = support::postgres_read_store_beside(&bank.store).await;
    create_pg_tables(&read).await;
    let side = ReadSide::new(bank.store.clone(), read);
    (bank, side)
}

const CATCH_UP: Duration = Duration::from_secs(10);

async fn applied<S: EventSource, C>(side: &ReadSide<S, <Balances<C> as Projection>::Store>) -> (i64, i64)
where
    Balances<C>: Projection + Answer<AppliedCount<C>>,
    AppliedCount<C>: Query<Output = (i64, i64), ReadModel = Balances<C>>,
{
    side.query(&Balances::<C>::new(), &AppliedCount(PhantomData))
        .await
        .expect("count applied events")
}

async fn all_balances<S: EventSource, C>(side: &ReadSide<S, <Balances<C> as Projection>::Store>) -> Vec<Row>
where
    Balances<C>: Projection + Answer<AllBalances<C>>,
    AllBalances<C>: Query<Output = Vec<Row>, ReadModel = Balances<C>>,
{
    side.query(&Balances::<C>::new(), &AllBalances(PhantomData))
        .await
        .expect("read balances")
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn catch_up_applies_every_event_once_in_batches() {
    let (bank, side) = level_1().await;
    for account in ["a", "b", "c"] {
        bank.open(account).await;
    }
    for n in 1..=10 {
        for account in ["a", "b", "c"] {
            bank.deposit(account, n).await;
        }
    }
    let last = bank.withdraw("b", 30).await;

    let handle = quick(side.runner(PgBalances::new())).batch_size(7).spawn();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();

    assert_eq!(
        all_balances::<_, PgConnection>(&side).await,
        vec![
            ("a".into(), "owner of a".into(), 55),
            ("b".into(), "owner of b".into(), 25),
            ("c".into(), "owner of c".into(), 55),
        ]
    );
    assert_eq!(applied::<_, PgConnection>(&side).await, (34, 34));
    let status = handle.status().await.unwrap();
    let last_checkpoint = bank
        .store
        .checkpoint_of(last.position.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(status.checkpoint >= last_checkpoint, "{status:?}");
    assert_eq!(status.lag_events, 0);
    assert!(status.leader);
    stop(handle).await;
}

/// The runner polls every 30 s; each append comes while it is asleep in its wait (the spy on its
/// event source says when it went to sleep, caught up), and wakes it at once.
#[tokio::test]
async fn live_events_arrive_by_notification_long_before_the_poll_interval() {
    let (bank, side) = level_1().await;
    let opened = bank.open("live").await;
    let source = Spy::new(bank.store.clone());
    let waiting = source.waiting();
    let handle = ProjectionRunner::new(source, side.store().clone(), PgBalances::new())
        .poll_interval(Duration::from_secs(30))
        .spawn();

    let mut applied = opened;
    for amount in [5, 7, 11] {
        let caught_up = bank
            .store
            .checkpoint_of(applied.position.unwrap())
            .await
            .unwrap()
            .unwrap();
        until("the runner to wait, caught up", CATCH_UP, || {
            waiting.borrow().is_some_and(|at| at >= caught_up)
        })
        .await;
        assert_eq!(handle.state(), RunnerState::Live);

        let receipt = bank.deposit("live", amount).await;
        let started = Instant::now();
        handle
            .wait_for(receipt.position, Duration::from_secs(1))
            .await
            .expect("the append wakes the runner within a second, not after 30 s");
        assert!(started.elapsed() < Duration::from_secs(1));
        applied = receipt;
    }
    let balance = side
        .query(&PgBalances::new(), &balance_of::<PgConnection>("live"))
        .await
        .unwrap();
    assert_eq!(balance, Some(23));
    stop(handle).await;
}

#[tokio::test]
async fn a_crash_between_handlers_and_commit_loses_and_repeats_nothing() {
    let (bank, side) = level_1().await;
    let mut receipts = vec![bank.open("crash").await];
    for amount in 1..=19 {
        receipts.push(bank.deposit("crash", amount).await);
    }

    // The sizes of the batches the runner committed before the crash: usually 5 and 5, fewer
    // when an open transaction elsewhere on the server holds later events back from a read.
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (batches, seen) = (Arc::new(AtomicU32::new(0)), sizes.clone());
    let counter = batches.clone();
    let handle = quick(side.runner(PgBalances::new()))
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
    assert_eq!(
        applied::<_, PgConnection>(&side).await,
        (committed as i64, committed as i64)
    );
    let status = side.status::<PgBalances>().await.unwrap();
    assert_eq!(
        status.checkpoint.position,
        receipts[committed - 1].position.unwrap()
    );
    assert_eq!(status.lag_events, 20 - committed as u64);

    let restarted = quick(side.runner(PgBalances::new())).batch_size(5).spawn();
    restarted.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(applied::<_, PgConnection>(&side).await, (20, 20));
    assert_eq!(
        side.query(&PgBalances::new(), &balance_of::<PgConnection>("crash"))
            .await
            .unwrap(),
        Some((1..=19).sum())
    );
    stop(restarted).await;
}

#[tokio::test]
async fn two_runners_one_active_and_the_standby_takes_over_when_it_dies() {
    let (bank, side) = level_1().await;
    bank.open("ha").await;
    for amount in 1..=40 {
        bank.deposit("ha", amount).await;
    }

    let slow = || PgBalances::slow(Duration::from_millis(10));
    let first = quick(side.runner(slow())).batch_size(5).spawn();
    until("the first runner to lead", CATCH_UP, || first.is_leader()).await;
    let second = quick(side.runner(slow())).batch_size(5).spawn();
    until("the second runner to stand by", CATCH_UP, || {
        second.state() == RunnerState::Standby
    })
    .await;
    assert!(first.is_leader());
    assert!(!second.is_leader());
    assert!(matches!(
        second.rebuild().await,
        Err(ProjectionError::NotLeader { .. })
    ));

    // Kill the active runner in the middle of the catch-up.
    let status = eventually("the first batch to be committed", CATCH_UP, || async {
        let status = side.status::<PgBalances>().await.unwrap();
        (status.checkpoint > Checkpoint::START).then_some(status)
    })
    .await;
    assert!(status.lag_events > 0, "killed before the end: {status:?}");
    first.abort();

    until("the standby to take over", CATCH_UP, || second.is_leader()).await;
    second.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(applied::<_, PgConnection>(&side).await, (41, 41));
    assert_eq!(
        side.query(&PgBalances::new(), &balance_of::<PgConnection>("ha"))
            .await
            .unwrap(),
        Some((1..=40).sum())
    );

    // And it follows live appends too.
    let receipt = bank.deposit("ha", 1000).await;
    second.wait_for(receipt.position, CATCH_UP).await.unwrap();
    assert_eq!(applied::<_, PgConnection>(&side).await, (42, 42));
    stop(second).await;
}

#[tokio::test]
async fn a_poison_event_stops_the_runner_with_an_error_naming_it() {
    let (bank, side) = level_1().await;
    bank.open("p").await;
    bank.deposit("p", 10).await;
    let poison = bank.deposit("p", 666).await;
    bank.deposit("p", 5).await;

    let projection = PgBalances::cursed(666);
    let cursed_calls = projection.cursed_calls.clone();
    let handle = quick(side.runner(projection)).batch_size(2).spawn();
    until("the runner to stop on the poison event", CATCH_UP, || {
        handle.is_finished()
    })
    .await;

    let status = handle.status().await.unwrap();
    assert_eq!(status.state, RunnerState::Failed);
    assert!(!status.leader);
    let last_error = status.last_error.clone().unwrap();
    assert!(last_error.contains("cursed amount 666"), "{last_error}");
    assert!(
        last_error.contains(&format!("position {}", poison.position.unwrap())),
        "{last_error}"
    );

    let error = handle.join().await.unwrap_err();
    let ProjectionError::Poison(event) = &error else {
        panic!("expected a poison error, got {error}");
    };
    assert_eq!(event.projection, "balances");
    assert_eq!(event.position, poison.position.unwrap());
    assert_eq!(event.stream_id, "bank.Account-p");
    assert_eq!(event.stream_version, 3);
    assert_eq!(event.event_type, "bank.MoneyDeposited");
    assert_eq!(event.attempts, 3);
    assert_eq!(event.source.to_string(), "cursed amount 666");
    let message = error.to_string();
    for part in [
        "balances",
        "bank.Account-p",
        "version 3",
        "bank.MoneyDeposited",
        "cursed amount 666",
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    assert_eq!(cursed_calls.load(Ordering::SeqCst), 3);

    // The first batch is in; nothing of the poison batch is.
    assert_eq!(
        side.query(&PgBalances::new(), &balance_of::<PgConnection>("p"))
            .await
            .unwrap(),
        Some(10)
    );
    assert_eq!(applied::<_, PgConnection>(&side).await, (2, 2));
    let status = side.status::<PgBalances>().await.unwrap();
    assert_eq!(status.lag_events, 2);
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_the_runner_goes_on() {
    let (bank, side) = level_1().await;
    bank.open("d").await;
    bank.deposit("d", 10).await;
    let poison = bank.deposit("d", 666).await;
    let last = bank.deposit("d", 5).await;

    let handle = quick(side.runner(PgBalances::cursed(666)))
        .batch_size(10)
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    handle.wait_for(last.position, CATCH_UP).await.unwrap();
    assert_eq!(
        side.query(&PgBalances::new(), &balance_of::<PgConnection>("d"))
            .await
            .unwrap(),
        Some(15)
    );
    assert_eq!(applied::<_, PgConnection>(&side).await, (3, 3));

    let letters = handle.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.projection, "balances");
    assert_eq!(letter.position, poison.position.unwrap());
    assert_eq!(letter.stream_id, "bank.Account-d");
    assert_eq!(letter.stream_version, 3);
    assert_eq!(letter.event_type, "bank.MoneyDeposited");
    assert!(letter.error.contains("cursed amount 666"), "{}", letter.error);
    assert_eq!(side.dead_letters::<PgBalances>().await.unwrap(), letters);

    let receipt = bank.deposit("d", 7).await;
    handle.wait_for(receipt.position, CATCH_UP).await.unwrap();
    assert_eq!(
        side.query(&PgBalances::new(), &balance_of::<PgConnection>("d"))
            .await
            .unwrap(),
        Some(22)
    );
    assert!(handle.is_leader());
    assert!(!handle.is_finished());
    stop(handle).await;
}

#[tokio::test]
async fn a_rebuild_replays_to_the_same_view() {
    let (bank, side) = level_1().await;
    for account in ["x", "y"] {
        bank.open(account).await;
        for amount in [3, 4, 5] {
            bank.deposit(account, amount).await;
        }
    }
    bank.withdraw("y", 100).await;

    let projection = PgBalances::new();
    let calls = projection.calls.clone();
    let handle = quick(side.runner(projection)).batch_size(3).spawn();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();
    let live = all_balances::<_, PgConnection>(&side).await;
    assert_eq!(calls.load(Ordering::SeqCst), 9);

    handle.rebuild().await.unwrap();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 18, "every event was applied again");
    assert_eq!(all_balances::<_, PgConnection>(&side).await, live);
    assert_eq!(applied::<_, PgConnection>(&side).await, (9, 9));
    stop(handle).await;
}

#[tokio::test]
async fn a_new_version_resets_the_read_model_and_replays_it() {
    let (bank, side) = level_1().await;
    bank.open("v").await;
    bank.deposit("v", 40).await;
    bank.withdraw("v", 15).await;

    let first = quick(side.runner(PgBalances::new())).spawn();
    first.wait_until_caught_up(CATCH_UP).await.unwrap();
    let before = all_balances::<_, PgConnection>(&side).await;
    stop(first).await;

    let v2 = Balances::<PgConnection, 2>::new();
    let calls = v2.calls.clone();
    let second = quick(side.runner(v2)).spawn();
    second.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "replayed from the first event");
    assert_eq!(all_balances::<_, PgConnection>(&side).await, before);
    assert_eq!(applied::<_, PgConnection>(&side).await, (3, 3));
    let status = second.status().await.unwrap();
    assert_eq!((status.version, status.stored_version), (2, Some(2)));
    stop(second).await;
}

#[tokio::test]
async fn a_new_version_without_reset_fails_with_a_clear_error() {
    let (bank, side) = level_1().await;
    bank.open("nr").await;
    let first = quick(side.runner(PgBalances::new())).spawn();
    first.wait_until_caught_up(CATCH_UP).await.unwrap();
    stop(first).await;

    let second = quick(side.runner(Balances::<PgConnection, 2, false>::new())).spawn();
    until("the runner to refuse", CATCH_UP, || second.is_finished()).await;
    let error = second.join().await.unwrap_err();
    assert!(
        matches!(
            error,
            ProjectionError::VersionChanged {
                projection: "balances",
                stored: 1,
                current: 2
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("`#[reset]`"), "{error}");
    // The read model is untouched.
    assert_eq!(applied::<_, PgConnection>(&side).await, (1, 1));
}

#[tokio::test]
async fn read_your_writes_waits_for_the_runner_and_times_out_without_one() {
    let (bank, side) = level_1().await;
    bank.open("r").await;
    let handle = quick(side.runner(PgBalances::new())).spawn();

    for amount in [1, 2, 3] {
        let receipt = bank.deposit("r", amount).await;
        let balance = side
            .query_consistent(
                &PgBalances::new(),
                &balance_of::<PgConnection>("r"),
                &receipt,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert!(balance.is_some());
    }
    assert_eq!(
        side.query(&PgBalances::new(), &balance_of::<PgConnection>("r"))
            .await
            .unwrap(),
        Some(6)
    );
    // A command that recorded nothing needs no wait.
    side.wait_for::<PgBalances>(None, Duration::ZERO).await.unwrap();
    stop(handle).await;

    // No runner: the wait ends in a typed timeout that tells the lag.
    let receipt = bank.deposit("r", 4).await;
    let started = Instant::now();
    let error = side
        .query_consistent(
            &PgBalances::new(),
            &balance_of::<PgConnection>("r"),
            &receipt,
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let QueryError::Projection(ProjectionError::Timeout {
        projection,
        position,
        ready,
        ..
    }) = &error
    else {
        panic!("expected a timeout, got {error}");
    };
    assert_eq!(*projection, "balances");
    assert_eq!(*position, receipt.position.unwrap());
    assert_eq!(*ready, 1);

    assert!(matches!(
        side.wait_for::<PgBalances>(Some(1_000_000), Duration::from_millis(10))
            .await,
        Err(ProjectionError::UnknownPosition { .. })
    ));
}

#[tokio::test]
async fn each_query_reads_a_fresh_snapshot_even_on_a_pool_of_one_connection() {
    // A query's read-only transaction is rolled back off the answer's path (as the pool takes
    // its connection back): the next query on that one connection must still begin a
    // transaction of its own, and so see what was committed since.
    let (bank, side) = level_1().await;
    bank.open("one").await;
    let handle = quick(side.runner(PgBalances::new())).spawn();
    let one_connection = PostgresReadStore::from_pool(support::postgres_pool(1).await)
        .with_schema(bank.store.schema())
        .expect("the test schema is valid");
    let narrow = ReadSide::new(bank.store.clone(), one_connection);
    let mut expected = 0;
    for amount in 1..=20 {
        let receipt = bank.deposit("one", amount).await;
        expected += amount;
        handle.wait_for(receipt.position, CATCH_UP).await.unwrap();
        for _ in 0..2 {
            assert_eq!(
                narrow
                    .query(&PgBalances::new(), &balance_of::<PgConnection>("one"))
                    .await
                    .unwrap(),
                Some(expected)
            );
        }
    }
    stop(handle).await;
}

#[tokio::test]
async fn only_a_runners_batch_commits_without_waiting_for_the_wal_flush() {
    use chronicle::ReadTransaction as _;
    let bank = Bank::new().await;
    let read = support::postgres_read_store_beside(&bank.store).await;
    let mut session = read.connect().await.unwrap();
    let setting = "SELECT current_setting('synchronous_commit')";
    let mut batch = PostgresReadStore::begin_batch(&mut session).await.unwrap();
    let in_batch: String = sqlx::query_scalar(setting)
        .fetch_one(&mut *batch.connection())
        .await
        .unwrap();
    batch.commit().await.unwrap();
    // Set for the batch's transaction alone: the session's other work (claims, an operator's
    // requests, dead letters) waits for the flush as before.
    let mut other = PostgresReadStore::begin(&mut session).await.unwrap();
    let in_other: String = sqlx::query_scalar(setting)
        .fetch_one(&mut *other.connection())
        .await
        .unwrap();
    other.commit().await.unwrap();
    assert_eq!((in_batch.as_str(), in_other.as_str()), ("off", "on"));
    PostgresReadStore::close(session).await;
}

#[tokio::test]
async fn queries_cannot_write_through_their_read_only_transaction() {
    let (bank, side) = level_1().await;
    bank.open("q").await;
    let handle = quick(side.runner(PgBalances::new())).spawn();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();

    let error = side
        .query(&PgBalances::new(), &SneakyWrite::<PgConnection>(PhantomData))
        .await
        .unwrap_err();
    let QueryError::Handler(handler) = &error else {
        panic!("expected the handler's error, got {error}");
    };
    let code = handler
        .0
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(
        code.as_deref(),
        Some("25006"),
        "read_only_sql_transaction: {error}"
    );
    assert_eq!(
        side.query(&PgBalances::new(), &balance_of::<PgConnection>("sneaky"))
            .await
            .unwrap(),
        None
    );
    stop(handle).await;
}

#[tokio::test]
async fn status_reports_the_lag_in_events_and_seconds() {
    let (bank, side) = level_1().await;
    bank.open("s").await;
    for amount in 1..=4 {
        bank.deposit("s", amount).await;
    }
    let last = bank.deposit("s", 5).await;
    // The lag is the age of the oldest unapplied event: wait until it is at least 300 ms old.
    let oldest = bank.store.read_all(0, 1).await.unwrap()[0].recorded_at;
    until("the oldest event to be 300 ms old", CATCH_UP, || {
        chrono::Utc::now() - oldest >= chrono::TimeDelta::milliseconds(300)
    })
    .await;

    let before = side.status::<PgBalances>().await.unwrap();
    assert_eq!(before.projection, "balances");
    assert_eq!(before.checkpoint, Checkpoint::START);
    assert_eq!(before.stored_version, None);
    assert_eq!(before.lag_events, 6);
    let age = (chrono::Utc::now() - oldest).to_std().unwrap();
    assert!(
        before.lag >= Duration::from_millis(300) && before.lag <= age + Duration::from_secs(1),
        "the oldest unapplied event is at least 300 ms old, and about {age:?}: {before:?}"
    );
    assert_eq!(before.head_position, last.position);
    assert_eq!(before.state, RunnerState::Detached);
    assert!(!before.leader);

    let handle = quick(side.runner(PgBalances::new())).spawn();
    handle.wait_for(last.position, CATCH_UP).await.unwrap();
    let after = handle.status().await.unwrap();
    assert_eq!(after.lag_events, 0);
    assert_eq!(after.lag, Duration::ZERO);
    assert_eq!(after.stored_version, Some(1));
    assert!(after.leader);
    assert!(matches!(after.state, RunnerState::Live | RunnerState::CatchingUp));
    let last_checkpoint = bank
        .store
        .checkpoint_of(last.position.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(after.checkpoint >= last_checkpoint);
    assert_eq!(after.last_error, None);
    stop(handle).await;
}

#[tokio::test]
async fn level_2_read_model_in_another_postgres_database() {
    let bank = Bank::new().await;
    let read = support::postgres_read_store_elsewhere().await;
    create_pg_tables(&read).await;
    let side = ReadSide::new(bank.store.clone(), read.clone());
    let current_database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(read.pool())
        .await
        .unwrap();
    let events_database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(bank.store.pool())
        .await
        .unwrap();
    assert_ne!(
        current_database, events_database,
        "the read model must live in another database"
    );
    assert!(support::read_database_url().ends_with(&format!("/{current_database}")));

    bank.open("l2").await;
    bank.deposit("l2", 100).await;
    let handle = quick(side.runner(PgBalances::new())).spawn();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(
        all_balances::<_, PgConnection>(&side).await,
        vec![("l2".into(), "owner of l2".into(), 100)]
    );

    let receipt = bank.withdraw("l2", 30).await;
    let balance = side
        .query_consistent(
            &PgBalances::new(),
            &balance_of::<PgConnection>("l2"),
            &receipt,
            CATCH_UP,
        )
        .await
        .unwrap();
    assert_eq!(balance, Some(70));
    assert_eq!(applied::<_, PgConnection>(&side).await, (3, 3));
    stop(handle).await;
}

type SqliteBalances = Balances<SqliteConnection>;

#[tokio::test]
async fn level_2_read_model_in_a_sqlite_file_fed_from_postgres() {
    let bank = Bank::new().await;
    let read = support::sqlite_read_store().await;
    create_sqlite_tables(&read).await;
    let side = ReadSide::new(bank.store.clone(), read);

    bank.open("lite").await;
    bank.deposit("lite", 20).await;
    let handle = quick(side.runner(SqliteBalances::new())).spawn();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(
        all_balances::<_, SqliteConnection>(&side).await,
        vec![("lite".into(), "owner of lite".into(), 20)]
    );

    let receipt = bank.deposit("lite", 22).await;
    let balance = side
        .query_consistent(
            &SqliteBalances::new(),
            &balance_of::<SqliteConnection>("lite"),
            &receipt,
            CATCH_UP,
        )
        .await
        .unwrap();
    assert_eq!(balance, Some(42));
    assert_eq!(applied::<_, SqliteConnection>(&side).await, (3, 3));

    // SQLite query connections are query-only.
    let error = side
        .query(
            &SqliteBalances::new(),
            &SneakyWrite::<SqliteConnection>(PhantomData),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("readonly"), "{error}");
    assert_eq!(
        side.query(&SqliteBalances::new(), &balance_of::<SqliteConnection>("sneaky"))
            .await
            .unwrap(),
        None
    );
    let status = handle.status().await.unwrap();
    assert_eq!(status.lag_events, 0);
    stop(handle).await;
}

#[tokio::test]
async fn sqlite_lease_passes_to_the_standby_when_the_active_runner_dies() {
    let events = support::sqlite_store().await;
    let bank = Chronicle::new(events.clone());
    let read = support::sqlite_read_store().await;
    create_sqlite_tables(&read).await;
    let side = ReadSide::new(events.clone(), read);

    bank.execute(OpenAccount {
        account_id: "lease".into(),
        owner: "owner of lease".into(),
        overdraft_limit: 0,
    })
    .await
    .unwrap();
    for amount in 1..=30 {
        bank.execute(Deposit {
            account_id: "lease".into(),
            amount,
        })
        .await
        .unwrap();
    }

    let runner = || {
        quick(side.runner(SqliteBalances::slow(Duration::from_millis(5))))
            .batch_size(4)
            .poll_interval(Duration::from_millis(50))
            .lease(Duration::from_millis(300))
    };
    let first = runner().spawn();
    until("the first runner to lead", CATCH_UP, || first.is_leader()).await;
    let second = runner().spawn();
    until("the second runner to stand by", CATCH_UP, || {
        second.state() == RunnerState::Standby
    })
    .await;
    assert!(first.is_leader() && !second.is_leader());

    eventually("the first batch to be committed", CATCH_UP, || async {
        let status = side.status::<SqliteBalances>().await.unwrap();
        (status.checkpoint > Checkpoint::START).then_some(())
    })
    .await;
    first.abort();

    until("the standby to take the lease over", CATCH_UP, || {
        second.is_leader()
    })
    .await;
    second.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(applied::<_, SqliteConnection>(&side).await, (31, 31));
    assert_eq!(
        side.query(&SqliteBalances::new(), &balance_of::<SqliteConnection>("lease"))
            .await
            .unwrap(),
        Some((1..=30).sum())
    );
    stop(second).await;
}

#[tokio::test]
async fn read_store_migrations_can_run_again() {
    let bank = Bank::new().await;
    let read = support::postgres_read_store_beside(&bank.store).await;
    read.migrate().await.unwrap();
    ReadStore::migrate(&read).await.unwrap();
    let sqlite = support::sqlite_read_store().await;
    sqlite.migrate().await.unwrap();
    assert!(matches!(
        read.clone().with_schema("Not Valid"),
        Err(ReadStoreError::InvalidName { .. })
    ));
}
