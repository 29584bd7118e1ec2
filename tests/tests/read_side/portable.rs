//! One projection written once (handlers on `&mut Sql`, queries on `&mut ReadOnly<'_, Sql>`),
//! run by the same scenarios on a `SqlReadStore` over each SQL engine: Postgres (a schema of its
//! own), SQLite (a file of its own) and MariaDB (a database of its own), fed from a Postgres
//! event store. Catch-up, live appends and read-your-writes; a crash between the handlers and
//! the commit; a version bump; a poison event dead-lettered; queries that cannot write;
//! placeholders, values and an engine's own SQL; opening a store from a URL.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::pace::quick;
use super::pace::stop;
use bank::{AccountOpened, MoneyDeposited, MoneyWithdrawn};
use chronicle::prelude::*;
use chronicle::sqlx;
use chronicle::{sql, sql_as, BoxError, RecordedEvent, RunnerState, Sql, SqlEngine, SqlReadStore, SqlValue};
use chronicle_tests::support::{self, PgBank};
use chronicle_tests::wait::{eventually, until};

const CATCH_UP: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
#[error("cursed amount {0}")]
struct Cursed(i64);

/// Each account's balance and event count, and every application of an event, written once.
#[derive(Default)]
struct Tally {
    /// A deposit of this amount makes the handler fail (none when 0); shared, so that a test can
    /// lift the curse while the runner runs.
    curse: Arc<AtomicI64>,
    /// How many times a handler ran (committed or not).
    calls: Arc<AtomicU32>,
}

// ANCHOR: portable_reset
/// Creates the view's tables and empties them, in SQL every engine reads the same.
async fn reset_tables(db: &mut Sql) -> Result<(), sqlx::Error> {
    db.execute(sql(
        "CREATE TABLE IF NOT EXISTS tally (account_id VARCHAR(200) PRIMARY KEY, owner TEXT NULL, \
         balance BIGINT NOT NULL, events BIGINT NOT NULL)",
    ))
    .await?;
    db.execute(sql(
        "CREATE TABLE IF NOT EXISTS tally_applied (position BIGINT NOT NULL, event_id VARCHAR(36) NOT NULL)",
    ))
    .await?;
    db.execute(sql("DELETE FROM tally")).await?;
    db.execute(sql("DELETE FROM tally_applied")).await?;
    Ok(())
}
// ANCHOR_END: portable_reset

impl Tally {
    fn cursed(amount: i64) -> Self {
        Self {
            curse: Arc::new(AtomicI64::new(amount)),
            ..Self::default()
        }
    }

    async fn apply(
        &self,
        db: &mut Sql,
        meta: &RecordedEvent,
        account: &str,
        amount: i64,
    ) -> Result<(), BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if amount != 0 && amount == self.curse.load(Ordering::SeqCst) {
            return Err(Cursed(amount).into());
        }
        // `$2` twice: MariaDB gets `?, ?` with the value bound twice.
        let changed = db
            .execute(
                sql("UPDATE tally SET balance = balance + $2, events = events + 1 WHERE account_id = $1 AND $2 = $2")
                    .bind(account)
                    .bind(amount),
            )
            .await?;
        if changed != 1 {
            return Err(format!("{changed} rows for account {account}").into());
        }
        record_applied(db, meta).await
    }
}

async fn record_applied(db: &mut Sql, meta: &RecordedEvent) -> Result<(), BoxError> {
    db.execute(
        sql("INSERT INTO tally_applied (position, event_id) VALUES ($1, $2)")
            .bind(i64::try_from(meta.position)?)
            .bind(meta.event_id.to_string()),
    )
    .await?;
    Ok(())
}

/// The handlers of a tally of version `$version`, and the methods given, as a `#[projection]`.
macro_rules! tally_projection {
    ($name:ident, $version:literal $(, $($queries:tt)*)?) => {
        #[projection(name = "portable_tally", version = $version)]
        impl $name {
            #[reset]
            async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
                reset_tables(db).await
            }

            #[on]
            async fn opened(&self, event: &AccountOpened, meta: &RecordedEvent, db: &mut Sql) -> Result<(), BoxError> {
                self.0.calls.fetch_add(1, Ordering::SeqCst);
                let mut insert = sql("INSERT INTO tally (account_id, owner, balance, events) VALUES ");
                insert.push_tuples([event], |row, e| {
                    row.push_bind(&e.account_id).push_bind(&e.owner).push("0").push("1");
                });
                db.execute(insert).await?;
                record_applied(db, meta).await
            }

            #[on]
            async fn deposited(&self, event: &MoneyDeposited, meta: &RecordedEvent, db: &mut Sql) -> Result<(), BoxError> {
                self.0.apply(db, meta, &event.account_id, event.amount).await
            }

            #[on]
            async fn withdrawn(&self, event: &MoneyWithdrawn, meta: &RecordedEvent, db: &mut Sql) -> Result<(), BoxError> {
                self.0.apply(db, meta, &event.account_id, -event.amount).await
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
    async fn balance(&self, query: &BalanceOf, db: &mut ReadOnly<'_, Sql>) -> Result<Option<i64>, sqlx::Error> {
        let row: Option<(i64,)> = db
            .fetch_optional(sql_as("SELECT balance FROM tally WHERE account_id = $1").bind(&query.0))
            .await?;
        Ok(row.map(|(balance,)| balance))
    }
    #[query]
    async fn everything(&self, _query: &Everything, db: &mut ReadOnly<'_, Sql>) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
        db.fetch_all(sql_as("SELECT account_id, balance, events FROM tally ORDER BY account_id")).await
    }
    #[query]
    async fn applied(&self, _query: &Applied, db: &mut ReadOnly<'_, Sql>) -> Result<(i64, i64), sqlx::Error> {
        db.fetch_one(sql_as("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM tally_applied")).await
    }
    #[query]
    async fn sneaky(&self, query: &SneakyWrite, db: &mut ReadOnly<'_, Sql>) -> Result<(), sqlx::Error> {
        // The only way to run SQL is a reading method; hand it a write.
        db.fetch_optional(sql_as::<(i64,)>(query.0)).await.map(drop)
    }
    #[query]
    async fn engine(&self, _query: &EngineOf, db: &mut ReadOnly<'_, Sql>) -> Result<SqlEngine, sqlx::Error> {
        Ok(db.engine())
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

/// The engine a query runs on.
#[derive(Query)]
#[query(output = SqlEngine, read_model = TallyV1)]
struct EngineOf;

type Side = ReadSide<PostgresStore, SqlReadStore>;

/// A read store on one engine, and how to remove what the test left there.
struct Engine {
    store: SqlReadStore,
    mariadb: Option<chronicle::MySqlReadStore>,
}

impl Engine {
    async fn postgres() -> Self {
        Self {
            store: support::postgres_read_store_elsewhere().await.into(),
            mariadb: None,
        }
    }

    async fn sqlite() -> Self {
        Self {
            store: support::sqlite_read_store().await.into(),
            mariadb: None,
        }
    }

    async fn mariadb() -> Self {
        let mysql = support::mysql_read_store().await;
        Self {
            store: mysql.clone().into(),
            mariadb: Some(mysql),
        }
    }

    async fn clean_up(self, side: Side) {
        drop(side);
        if let Some(mysql) = self.mariadb {
            support::drop_mysql_database(&mysql).await;
        }
    }
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

async fn catch_up_live_appends_and_read_your_writes(engine: Engine, expected: SqlEngine) {
    let bank = PgBank::new().await;
    let side = ReadSide::new(bank.store.clone(), engine.store.clone());
    assert_eq!(engine.store.engine(), expected);
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
    assert_eq!(
        side.query(&TallyV1::default(), &EngineOf).await.unwrap(),
        expected
    );
    let status = handle.status().await.unwrap();
    assert_eq!(status.lag_events, 0);
    assert!(status.leader);

    for amount in [100, 200, 300] {
        let receipt = bank.deposit("a", amount).await;
        let seen = side
            .query_consistent(&TallyV1::default(), &BalanceOf("a".into()), &receipt, CATCH_UP)
            .await
            .unwrap();
        assert!(seen >= Some(55 + amount), "{seen:?}");
    }
    assert_eq!(balance(&side, "a").await, Some(655));
    assert_eq!(applied(&side).await, (26, 26));
    assert_eq!(handle.state(), RunnerState::Live);
    stop(handle).await;
    engine.clean_up(side).await;
}

async fn a_crash_between_handlers_and_commit_counts_each_event_once(engine: Engine) {
    let bank = PgBank::new().await;
    let side = ReadSide::new(bank.store.clone(), engine.store.clone());
    let mut receipts = vec![bank.open("crash").await];
    for amount in 1..=19 {
        receipts.push(bank.deposit("crash", amount).await);
    }

    // A batch holds at most five events; it can hold fewer while another test's open transaction
    // holds the log's horizon back, so the hook records each batch's size.
    let batch_sizes = Arc::new(Mutex::new(Vec::new()));
    let sizes = batch_sizes.clone();
    let tally = TallyV1::default();
    let calls = tally.0.calls.clone();
    let handle = quick(side.runner(tally))
        .batch_size(5)
        .crash_before_commit(move |events| {
            let mut sizes = sizes.lock().unwrap();
            sizes.push(events.len());
            sizes.len() == 3
        })
        .spawn();
    until("the simulated crash", CATCH_UP, || handle.is_finished()).await;
    let error = handle.join().await.unwrap_err();
    assert!(matches!(error, ProjectionError::SimulatedCrash { .. }), "{error}");
    let sizes = batch_sizes.lock().unwrap().clone();
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert!(sizes.iter().all(|size| (1..=5).contains(size)), "{sizes:?}");
    let committed = sizes[0] + sizes[1];
    // The third batch's handlers ran, and were rolled back with it.
    assert_eq!(calls.load(Ordering::SeqCst) as usize, committed + sizes[2]);
    assert_eq!(applied(&side).await, (committed as i64, committed as i64));
    let status = side.status::<TallyV1>().await.unwrap();
    assert_eq!(
        status.checkpoint.position,
        receipts[committed - 1].position.unwrap()
    );
    assert_eq!(status.lag_events, (20 - committed) as u64);

    let restarted = quick(side.runner(TallyV1::default())).batch_size(5).spawn();
    restarted.wait_until_caught_up(CATCH_UP).await.unwrap();
    assert_eq!(applied(&side).await, (20, 20));
    assert_eq!(
        side.query(&TallyV1::default(), &Everything).await.unwrap(),
        vec![("crash".into(), (1..=19).sum(), 20)]
    );
    stop(restarted).await;
    engine.clean_up(side).await;
}

async fn a_version_bump_resets_the_view_and_rebuilds_it(engine: Engine) {
    let bank = PgBank::new().await;
    let side = ReadSide::new(bank.store.clone(), engine.store.clone());
    bank.open("v").await;
    for amount in [3, 4] {
        bank.deposit("v", amount).await;
    }
    let first = quick(side.runner(TallyV1::default())).spawn();
    first.wait_until_caught_up(CATCH_UP).await.unwrap();
    stop(first).await;
    let last = bank.deposit("v", 5).await;

    let second = quick(side.runner(TallyV2::default())).spawn();
    second.wait_for(last.position, CATCH_UP).await.unwrap();
    let status = side.status::<TallyV2>().await.unwrap();
    assert_eq!(status.version, 2);
    // Rebuilt from the start: each event once, not on top of version 1's rows.
    assert_eq!(applied(&side).await, (4, 4));
    assert_eq!(balance(&side, "v").await, Some(12));
    stop(second).await;
    engine.clean_up(side).await;
}

async fn a_poison_event_is_dead_lettered_and_read_back(engine: Engine) {
    let bank = PgBank::new().await;
    let side = ReadSide::new(bank.store.clone(), engine.store.clone());
    bank.open("d").await;
    bank.deposit("d", 10).await;
    let poison = bank.deposit("d", 666).await;
    let last = bank.deposit("d", 5).await;

    let tally = Tally::cursed(666);
    let curse = tally.curse.clone();
    // A short lease: the runner looks for retry requests each time it renews it.
    let handle = quick(side.runner(TallyV1(tally)))
        .batch_size(10)
        .on_poison(OnPoison::DeadLetter)
        .lease(Duration::from_millis(1500))
        .spawn();
    handle.wait_for(last.position, CATCH_UP).await.unwrap();
    assert_eq!(balance(&side, "d").await, Some(15));
    assert_eq!(applied(&side).await, (3, 3));
    let letters = handle.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].projection, "portable_tally");
    assert_eq!(letters[0].position, poison.position.unwrap());
    assert_eq!(letters[0].event_type, "bank.MoneyDeposited");
    assert!(
        letters[0].error.contains("cursed amount 666"),
        "{}",
        letters[0].error
    );
    assert_eq!(letters[0].retry_requested_at, None);

    // A retry while the handler still fails: recorded again with the new error, no request left.
    let position = poison.position.unwrap();
    assert!(side
        .store()
        .request_retry("portable_tally", 1, position)
        .await
        .unwrap());
    let again = eventually("the failed retry recorded", CATCH_UP, || async {
        let letters = handle.dead_letters().await.ok()?;
        letters
            .into_iter()
            .find(|letter| letter.error.starts_with("retried: ") && letter.retry_requested_at.is_none())
    })
    .await;
    assert!(again.error.contains("cursed amount 666"), "{}", again.error);
    assert_eq!(balance(&side, "d").await, Some(15));

    // Fixed: the retry applies the event once and deletes the letter in the same transaction.
    curse.store(0, Ordering::SeqCst);
    assert!(side
        .store()
        .request_retry("portable_tally", 1, position)
        .await
        .unwrap());
    eventually("the letter retried away", CATCH_UP, || async {
        handle
            .dead_letters()
            .await
            .ok()
            .filter(|letters| letters.is_empty())
    })
    .await;
    assert_eq!(balance(&side, "d").await, Some(681));
    assert_eq!(applied(&side).await, (4, 4));
    assert!(
        !side
            .store()
            .request_retry("portable_tally", 1, position)
            .await
            .unwrap(),
        "gone"
    );
    stop(handle).await;
    engine.clean_up(side).await;
}

async fn queries_cannot_write_through_their_read_only_transaction(engine: Engine) {
    let bank = PgBank::new().await;
    let side = ReadSide::new(bank.store.clone(), engine.store.clone());
    bank.open("q").await;
    let handle = quick(side.runner(TallyV1::default())).spawn();
    handle.wait_until_caught_up(CATCH_UP).await.unwrap();
    for statement in [
        "INSERT INTO tally (account_id, owner, balance, events) VALUES ('sneaky', 'Mallory', 1000000, 1)",
        "UPDATE tally SET balance = 1000000",
        "DELETE FROM tally",
    ] {
        let error = side
            .query(&TallyV1::default(), &SneakyWrite(statement))
            .await
            .expect_err(statement);
        assert!(matches!(error, QueryError::Handler(_)), "{statement}: {error}");
    }
    assert_eq!(balance(&side, "sneaky").await, None);
    assert_eq!(balance(&side, "q").await, Some(0));
    stop(handle).await;
    engine.clean_up(side).await;
}

/// A view that writes every kind of value, and one statement of the engine's own.
#[derive(Default)]
struct Values;

#[projection(name = "portable_values", version = 1)]
impl Values {
    #[reset]
    async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
        db.execute(sql(
            "CREATE TABLE IF NOT EXISTS portable_values (id VARCHAR(64) PRIMARY KEY, flag BOOLEAN NULL, \
             small INTEGER NULL, big BIGINT NULL, ratio DOUBLE PRECISION NULL, note TEXT NULL, \
             at_time VARCHAR(64) NULL, engine_note TEXT NULL)",
        ))
        .await?;
        db.execute(sql("DELETE FROM portable_values")).await.map(drop)
    }

    #[on]
    async fn opened(
        &self,
        event: &AccountOpened,
        meta: &RecordedEvent,
        db: &mut Sql,
    ) -> Result<(), BoxError> {
        db.execute(
            sql(
                "INSERT INTO portable_values (id, flag, small, big, ratio, note, at_time) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&event.account_id)
            .bind(true)
            .bind(i32::MAX)
            .bind(i64::MIN)
            .bind(0.25_f64)
            .bind(SqlValue::Text(None))
            .bind(meta.recorded_at.to_rfc3339()),
        )
        .await?;
        // The engine's own SQL, in the same transaction, where one engine deserves it.
        let note = match db.engine() {
            SqlEngine::Postgres => {
                let connection = db.postgres().ok_or("a Postgres connection")?;
                sqlx::query_scalar::<_, String>("SELECT 'postgres ' || current_setting('server_version_num')")
                    .fetch_one(&mut *connection)
                    .await?
            }
            SqlEngine::Sqlite => {
                let connection = db.sqlite().ok_or("a SQLite connection")?;
                sqlx::query_scalar::<_, String>("SELECT 'sqlite ' || sqlite_version()")
                    .fetch_one(&mut *connection)
                    .await?
            }
            _ => {
                let connection = db.mysql().ok_or("a MariaDB connection")?;
                sqlx::query_scalar::<_, String>("SELECT CONCAT('mariadb ', VERSION())")
                    .fetch_one(&mut *connection)
                    .await?
            }
        };
        db.execute(
            sql("UPDATE portable_values SET engine_note = $1 WHERE id = $2")
                .bind(note)
                .bind(&event.account_id),
        )
        .await?;
        Ok(())
    }

    #[query]
    async fn row(
        &self,
        query: &ValuesOf,
        db: &mut ReadOnly<'_, Sql>,
    ) -> Result<Option<ValueRow>, sqlx::Error> {
        db.fetch_optional(
            sql_as("SELECT flag, small, big, ratio, note, engine_note FROM portable_values WHERE id = $1")
                .bind(&query.0),
        )
        .await
    }

    #[query]
    async fn broken(
        &self,
        query: &Broken,
        db: &mut ReadOnly<'_, Sql>,
    ) -> Result<Option<(i64,)>, sqlx::Error> {
        // Names `$2` with one value bound.
        db.fetch_optional(sql_as(query.0).bind(1_i64)).await
    }
}

/// A row of `portable_values`: flag, small, big, ratio, note, engine note.
type ValueRow = (
    Option<bool>,
    Option<i32>,
    Option<i64>,
    Option<f64>,
    Option<String>,
    Option<String>,
);

#[derive(Query)]
#[query(output = Option<ValueRow>, read_model = Values)]
struct ValuesOf(String);

#[derive(Query)]
#[query(output = Option<(i64,)>, read_model = Values)]
struct Broken(&'static str);

async fn values_round_trip_and_an_engine_speaks_its_own_sql(engine: Engine, expected: &str) {
    let bank = PgBank::new().await;
    let side = ReadSide::new(bank.store.clone(), engine.store.clone());
    let receipt = bank.open("values").await;
    let handle = quick(side.runner(Values)).spawn();
    handle.wait_for(receipt.position, CATCH_UP).await.unwrap();
    let row = side
        .query(&Values, &ValuesOf("values".into()))
        .await
        .unwrap()
        .expect("the row");
    let (flag, small, big, ratio, text, engine_note) = row;
    assert_eq!(flag, Some(true));
    assert_eq!(small, Some(i32::MAX));
    assert_eq!(big, Some(i64::MIN));
    assert_eq!(ratio, Some(0.25));
    assert_eq!(text, None);
    let note = engine_note.unwrap_or_default();
    assert!(note.starts_with(expected), "{note}");

    // A placeholder without a value is the driver's error (or, on MariaDB, Chronicle's), never
    // a panic; a placeholder inside a string is text.
    let error = side
        .query(&Values, &Broken("SELECT 1 WHERE $1 = $2"))
        .await
        .expect_err("`$2` has no value");
    assert!(matches!(error, QueryError::Handler(_)), "{error}");
    let quoted = side
        .query(
            &Values,
            &Broken("SELECT COUNT(*) FROM portable_values WHERE note = '$2' OR $1 = 0"),
        )
        .await
        .unwrap();
    assert_eq!(quoted, Some((0,)));
    stop(handle).await;
    engine.clean_up(side).await;
}

/// The scenarios above, as one test each per engine.
macro_rules! on_every_engine {
    ($($engine:ident: $open:expr, $kind:expr, $note:literal;)+) => {$(
        mod $engine {
            use super::*;

            #[tokio::test]
            async fn catch_up_live_appends_and_read_your_writes() {
                super::catch_up_live_appends_and_read_your_writes($open.await, $kind).await;
            }

            #[tokio::test]
            async fn a_crash_between_handlers_and_commit_counts_each_event_once() {
                super::a_crash_between_handlers_and_commit_counts_each_event_once($open.await).await;
            }

            #[tokio::test]
            async fn a_version_bump_resets_the_view_and_rebuilds_it() {
                super::a_version_bump_resets_the_view_and_rebuilds_it($open.await).await;
            }

            #[tokio::test]
            async fn a_poison_event_is_dead_lettered_and_read_back() {
                super::a_poison_event_is_dead_lettered_and_read_back($open.await).await;
            }

            #[tokio::test]
            async fn queries_cannot_write_through_their_read_only_transaction() {
                super::queries_cannot_write_through_their_read_only_transaction($open.await).await;
            }

            #[tokio::test]
            async fn values_round_trip_and_an_engine_speaks_its_own_sql() {
                super::values_round_trip_and_an_engine_speaks_its_own_sql($open.await, $note).await;
            }
        }
    )+};
}

on_every_engine! {
    postgres: Engine::postgres(), SqlEngine::Postgres, "postgres ";
    sqlite: Engine::sqlite(), SqlEngine::Sqlite, "sqlite ";
    mariadb: Engine::mariadb(), SqlEngine::MySql, "mariadb ";
}

#[tokio::test]
async fn a_store_opens_from_the_url_of_each_engine() {
    let postgres = SqlReadStore::connect(&support::read_database_url())
        .await
        .unwrap();
    assert_eq!(postgres.engine(), SqlEngine::Postgres);
    let mariadb = SqlReadStore::connect(&support::mysql_url()).await.unwrap();
    assert_eq!(mariadb.engine(), SqlEngine::MySql);
    let file = support::TempFile::new("portable");
    let sqlite = SqlReadStore::connect(&format!("sqlite://{}", file.path().display()))
        .await
        .unwrap();
    assert_eq!(sqlite.engine(), SqlEngine::Sqlite);
    sqlite.migrate().await.unwrap();
    assert_eq!(sqlite.read_checkpoint("nothing").await.unwrap(), None);

    // An unknown scheme is refused by name, and the rest of the URL (a password) is not repeated.
    let error = SqlReadStore::connect("oracle://scott:tiger@127.0.0.1/orcl")
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, chronicle::ReadStoreError::UnsupportedUrl { .. }),
        "{error:?}"
    );
    assert!(text.contains("`oracle:`") && !text.contains("tiger"), "{text}");
    assert!(
        text.contains("postgres://") && text.contains("mysql://"),
        "{text}"
    );
    assert!(SqlReadStore::connect("no scheme at all").await.is_err());
}

/// The order example's summaries (`examples/orders/src/views.rs`, written once) build and answer
/// the same on every engine, from the same commands.
async fn the_order_summaries_answer_the_same(engine: Engine) -> Vec<orders::views::OrderSummaryRow> {
    use orders::domain::{AddItem, CreateOrder, ShipOrder};
    use orders::views::{OpenOrders, OrderSummaries, OrderSummary};

    let bank = PgBank::new().await;
    let shop = Chronicle::new(bank.store.clone());
    let side = ReadSide::new(bank.store.clone(), engine.store.clone());
    let runner = quick(side.runner(OrderSummaries)).spawn();
    for (order, customer) in [("o-1", "Grace"), ("o-2", "Alan")] {
        shop.execute(CreateOrder {
            order_id: order.into(),
            customer: customer.into(),
        })
        .await
        .unwrap();
        shop.execute(AddItem {
            order_id: order.into(),
            sku: "book".into(),
            quantity: 2,
            unit_price_cents: 1_500,
        })
        .await
        .unwrap();
    }
    let receipt = shop
        .execute(ShipOrder {
            order_id: "o-1".into(),
            carrier: "DHL".into(),
        })
        .await
        .unwrap();
    let shipped = side
        .query_consistent(
            &OrderSummaries,
            &OrderSummary {
                order_id: "o-1".into(),
            },
            &receipt,
            CATCH_UP,
        )
        .await
        .unwrap()
        .expect("the shipped order");
    assert_eq!(shipped.status, "shipped");
    assert_eq!(shipped.carrier.as_deref(), Some("DHL"));
    assert_eq!((shipped.item_count, shipped.total_cents), (2, 3_000));
    let open = side.query(&OrderSummaries, &OpenOrders).await.unwrap();
    stop(runner).await;
    engine.clean_up(side).await;
    open
}

#[tokio::test]
async fn the_order_summaries_written_once_answer_the_same_on_every_engine() {
    let on_postgres = the_order_summaries_answer_the_same(Engine::postgres().await).await;
    let on_sqlite = the_order_summaries_answer_the_same(Engine::sqlite().await).await;
    let on_mariadb = the_order_summaries_answer_the_same(Engine::mariadb().await).await;
    assert_eq!(on_postgres.len(), 1);
    assert_eq!(on_postgres[0].order_id, "o-2");
    assert_eq!(on_postgres, on_sqlite);
    assert_eq!(on_postgres, on_mariadb);
}
