//! Batch handlers (`#[on]` methods taking `&[E]`) against real databases: runs of consecutive
//! events of one type reach them together and in order, a failing run is narrowed down to the one
//! event that fails, an undecodable event in a run is named exactly, and the bank's batch views
//! agree with the events: written once, on Postgres, SQLite and MariaDB, and written for
//! Postgres alone.

use std::time::Duration;

use bank::{AccountOpened, Deposit, MoneyDeposited, MoneyWithdrawn, OpenAccount, Withdraw};
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::BoxFuture;
use chronicle::{
    OnPoison, PostgresReadStore, ProjectionError, ReadSide, Receipt, RecordedEvent, RetryPolicy,
    SqlReadStore, SqliteReadStore,
};
use chronicle_tests::support;

const CATCH_UP: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
enum LogError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("cursed amount {0}")]
    Cursed(i64),
}

/// Balances, and a log with one row per handler call: how many events and envelopes it was
/// given, and the positions of the first and last.
#[derive(Default)]
struct RunLog {
    /// A deposit of this amount makes the deposit handler fail.
    curse: Option<i64>,
}

/// One row of `run_log`: a handler's name, how many events and envelopes it was given, and the
/// positions of the first and last.
struct Call(&'static str, usize, usize, i64, i64);

impl Call {
    fn of(handler: &'static str, events: usize, metas: &[RecordedEvent]) -> Self {
        let position = |meta: Option<&RecordedEvent>| meta.map_or(0, |m| m.position as i64);
        Self(
            handler,
            events,
            metas.len(),
            position(metas.first()),
            position(metas.last()),
        )
    }

    // Boxed: an `async fn` helper awaited inside a handler trips rustc's check that the handler's
    // future is `Send` ("implementation of `Executor` is not general enough").
    fn log(self, db: &mut PgConnection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO run_log (handler, events, envelopes, first_position, last_position) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(self.0)
            .bind(self.1 as i32)
            .bind(self.2 as i32)
            .bind(self.3)
            .bind(self.4)
            .execute(db)
            .await
            .map(drop)
        })
    }
}

#[projection(name = "tests.run_log", version = 1)]
impl RunLog {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        for statement in [
            "DROP TABLE IF EXISTS run_log",
            "DROP TABLE IF EXISTS run_balances",
            "CREATE TABLE run_log (seq bigserial PRIMARY KEY, handler text NOT NULL, events int NOT NULL,
                 envelopes int NOT NULL, first_position bigint NOT NULL, last_position bigint NOT NULL)",
            "CREATE TABLE run_balances (account_id text PRIMARY KEY, balance bigint NOT NULL)",
        ] {
            sqlx::query(statement).execute(&mut *db).await?;
        }
        Ok(())
    }

    #[on]
    async fn opened(
        &self,
        events: &[AccountOpened],
        metas: &[RecordedEvent],
        db: &mut PgConnection,
    ) -> Result<(), LogError> {
        Call::of("opened", events.len(), metas).log(db).await?;
        let ids: Vec<&str> = events.iter().map(|e| e.account_id.as_str()).collect();
        sqlx::query("INSERT INTO run_balances SELECT id, 0 FROM UNNEST($1::text[]) AS id")
            .bind(ids)
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    #[on]
    async fn deposited(
        &self,
        events: &[MoneyDeposited],
        metas: &[RecordedEvent],
        db: &mut PgConnection,
    ) -> Result<(), LogError> {
        if let Some(curse) = self
            .curse
            .filter(|curse| events.iter().any(|e| e.amount == *curse))
        {
            return Err(LogError::Cursed(curse));
        }
        Call::of("deposited", events.len(), metas).log(db).await?;
        let (ids, changes): (Vec<&str>, Vec<i64>) =
            bank::views::net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)))
                .into_iter()
                .unzip();
        sqlx::query(
            "UPDATE run_balances AS b SET balance = b.balance + c.change \
             FROM UNNEST($1::text[], $2::bigint[]) AS c(account_id, change) WHERE b.account_id = c.account_id",
        )
        .bind(ids)
        .bind(changes)
        .execute(&mut *db)
        .await?;
        Ok(())
    }

    /// One event at a time, beside the batch handlers.
    #[on]
    async fn withdrawn(
        &self,
        event: &MoneyWithdrawn,
        meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> Result<(), LogError> {
        Call::of("withdrawn", 1, std::slice::from_ref(meta))
            .log(db)
            .await?;
        sqlx::query("UPDATE run_balances SET balance = balance - $2 WHERE account_id = $1")
            .bind(&event.account_id)
            .bind(event.amount)
            .execute(&mut *db)
            .await?;
        Ok(())
    }
}

type Bank = support::PgBank;

async fn read_side(bank: &Bank) -> ReadSide<PostgresStore, PostgresReadStore> {
    ReadSide::new(
        bank.store.clone(),
        support::postgres_read_store_beside(&bank.store).await,
    )
}

async fn balance(bank: &Bank, account: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT balance FROM run_balances WHERE account_id = $1")
        .bind(account)
        .fetch_optional(bank.store.pool())
        .await
        .unwrap()
}

async fn run_log(bank: &Bank) -> Vec<(String, i32, i32, i64, i64)> {
    sqlx::query_as(
        "SELECT handler, events, envelopes, first_position, last_position FROM run_log ORDER BY seq",
    )
    .fetch_all(bank.store.pool())
    .await
    .unwrap()
}

fn position(receipt: &Receipt) -> i64 {
    receipt.position.expect("an event was recorded") as i64
}

/// Records, for each opened account, whether the handler's transaction waits for the WAL flush.
#[derive(Default)]
pub struct CommitSettings;

#[projection(name = "tests.commit_settings", version = 1)]
impl CommitSettings {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("CREATE TABLE IF NOT EXISTS commit_settings (account_id text, setting text)")
            .execute(&mut *db)
            .await?;
        sqlx::query("DELETE FROM commit_settings")
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    #[on]
    async fn opened(&self, event: &AccountOpened, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO commit_settings SELECT $1, current_setting('synchronous_commit')")
            .bind(&event.account_id)
            .execute(&mut *db)
            .await
            .map(drop)
    }
}

#[tokio::test]
async fn a_runners_batches_on_postgres_commit_without_waiting_for_the_wal_flush() {
    let bank = Bank::new().await;
    let opened = bank.open("sync").await;
    let side = read_side(&bank).await;
    let handle = side.runner(CommitSettings).spawn();
    handle.wait_for(opened.position, CATCH_UP).await.unwrap();
    handle.stop().await.into_result().unwrap();
    let settings: Vec<(String, String)> = sqlx::query_as("SELECT account_id, setting FROM commit_settings")
        .fetch_all(bank.store.pool())
        .await
        .unwrap();
    assert_eq!(settings, [("sync".to_owned(), "off".to_owned())]);
}

#[tokio::test]
async fn runs_of_one_type_reach_a_batch_handler_together_and_in_order() {
    let bank = Bank::new().await;
    let a = bank.open("a").await;
    let b = bank.open("b").await;
    let d1 = bank.deposit("a", 10).await;
    bank.deposit("b", 20).await;
    let d3 = bank.deposit("a", 5).await;
    let w = bank.withdraw("a", 3).await;
    let last = bank.deposit("b", 1).await;

    let side = read_side(&bank).await;
    let handle = side.runner(RunLog::default()).batch_size(100).spawn();
    handle.wait_for(last.position, CATCH_UP).await.unwrap();

    assert_eq!(
        run_log(&bank).await,
        vec![
            ("opened".to_owned(), 2, 2, position(&a), position(&b)),
            ("deposited".to_owned(), 3, 3, position(&d1), position(&d3)),
            ("withdrawn".to_owned(), 1, 1, position(&w), position(&w)),
            ("deposited".to_owned(), 1, 1, position(&last), position(&last)),
        ]
    );
    assert_eq!(balance(&bank, "a").await, Some(12));
    assert_eq!(balance(&bank, "b").await, Some(21));

    // Live appends after the catch-up go through the same handlers.
    let more = bank.deposit("a", 8).await;
    handle.wait_for(more.position, CATCH_UP).await.unwrap();
    assert_eq!(balance(&bank, "a").await, Some(20));
    handle.stop().await.into_result().unwrap();
}

#[tokio::test]
async fn a_failing_run_is_narrowed_down_to_the_event_that_fails() {
    // Batches of 100 hold the whole run; batches of 2 also have the next batch read ahead while
    // the failing one is retried.
    for batch_size in [100, 2] {
        narrow_a_failing_run(batch_size).await;
    }
}

async fn narrow_a_failing_run(batch_size: usize) {
    let bank = Bank::new().await;
    bank.open("d").await;
    bank.deposit("d", 10).await;
    let poison = bank.deposit("d", 666).await;
    let last = bank.deposit("d", 5).await;

    let side = read_side(&bank).await;
    let handle = side
        .runner(RunLog { curse: Some(666) })
        .batch_size(batch_size)
        .retry(RetryPolicy::new(2, Duration::from_millis(5)))
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    handle.wait_for(last.position, CATCH_UP).await.unwrap();

    let letters = handle.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].position, poison.position.unwrap());
    assert!(
        letters[0].error.contains("cursed amount 666"),
        "{}",
        letters[0].error
    );
    assert_eq!(balance(&bank, "d").await, Some(15));
    let applied: i32 = run_log(&bank).await.iter().map(|(_, events, ..)| events).sum();
    assert_eq!(applied, 3, "the opening and the two good deposits, each once");
    handle.stop().await.into_result().unwrap();
}

#[tokio::test]
async fn an_undecodable_event_in_a_run_is_named_exactly() {
    let bank = Bank::new().await;
    bank.open("e").await;
    bank.open("f").await;
    bank.deposit("e", 1).await;
    // A row whose payload is JSON but not a deposit, in the middle of a run of deposits.
    let bad: i64 = sqlx::query_scalar(
        "INSERT INTO chronicle_events (stream_id, stream_version, event_id, event_type, event_version, payload, \
             metadata, command_id) \
         VALUES ('bank.Account-e', 3, $1, 'bank.MoneyDeposited', 1, '{\"account_id\": 5}', \
             jsonb_build_object('command_id', $2::text, 'correlation_id', $2::text, 'causation_id', $2::text), $2) \
         RETURNING position",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(uuid::Uuid::new_v4())
    .fetch_one(bank.store.pool())
    .await
    .unwrap();
    bank.deposit("f", 2).await;

    let side = read_side(&bank).await;
    let handle = side
        .runner(RunLog::default())
        .batch_size(100)
        .retry(RetryPolicy::new(2, Duration::from_millis(5)))
        .spawn();
    let error = tokio::time::timeout(CATCH_UP, handle.join())
        .await
        .expect("the runner stops on the poison event")
        .unwrap_err();
    let ProjectionError::Poison(poison) = error else {
        panic!("expected a poison event, got {error}");
    };
    assert_eq!(poison.position, bad as u64);
    assert!(poison.to_string().contains("MoneyDeposited"), "{poison}");
    assert!(
        run_log(&bank).await.is_empty(),
        "the failed batch was rolled back"
    );
}

/// Builds the bank's views from a mixed history and checks them against the amounts.
macro_rules! bank_views_agree {
    ($store:expr, $read:expr, $views:path) => {{
        use $views as views;
        let store = $store;
        let bank = Chronicle::new(store.clone());
        let side = ReadSide::new(store.clone(), $read);
        let mut expected = std::collections::BTreeMap::new();
        let mut last = None;
        for n in 0..6 {
            let account = format!("v-{n}");
            bank.execute(OpenAccount {
                account_id: account.clone(),
                owner: format!("owner {n}"),
                overdraft_limit: 50,
            })
            .await
            .unwrap();
            expected.insert(account, 0i64);
        }
        // Runs of deposits interleaved with withdrawals, over every account.
        for round in 0..5i64 {
            for n in 0..6i64 {
                let account = format!("v-{n}");
                let receipt = if (round + n) % 4 == 3 {
                    *expected.get_mut(&account).unwrap() -= 7;
                    bank.execute(Withdraw {
                        account_id: account,
                        amount: 7,
                    })
                    .await
                    .unwrap()
                } else {
                    let amount = round * 10 + n + 1;
                    *expected.get_mut(&account).unwrap() += amount;
                    bank.execute(Deposit {
                        account_id: account,
                        amount,
                    })
                    .await
                    .unwrap()
                };
                last = receipt.position;
            }
        }
        let balances = side.runner(views::AccountBalances).batch_size(16).spawn();
        let top = side.runner(views::TopAccounts).batch_size(16).spawn();
        balances.wait_for(last, CATCH_UP).await.unwrap();
        top.wait_for(last, CATCH_UP).await.unwrap();
        for (account, balance) in &expected {
            let row = side
                .query(
                    &views::AccountBalances,
                    &views::BalanceOf {
                        account_id: account.clone(),
                    },
                )
                .await
                .unwrap()
                .expect("every opened account has a row");
            assert_eq!(row.balance, *balance, "{account}");
            assert_eq!(row.available, balance + 50, "{account}");
        }
        let richest = side
            .query(&views::TopAccounts, &views::Richest { limit: 6 })
            .await
            .unwrap();
        let mut ranked: Vec<(String, i64)> = expected.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(
            richest
                .into_iter()
                .map(|(id, _, balance)| (id, balance))
                .collect::<Vec<_>>(),
            ranked
        );
        balances.stop().await.into_result().unwrap();
        top.stop().await.into_result().unwrap();
    }};
}

#[tokio::test]
async fn the_postgres_only_bank_views_agree_with_the_events() {
    let store = support::postgres_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    bank_views_agree!(store, read, bank::views::postgres);
}

#[tokio::test]
async fn the_bank_views_written_once_agree_with_the_events_on_postgres() {
    let store = support::postgres_store().await;
    let read = SqlReadStore::from(support::postgres_read_store_beside(&store).await);
    bank_views_agree!(store, read, bank::views);
}

#[tokio::test]
async fn the_bank_views_written_once_agree_with_the_events_on_sqlite() {
    let store = support::sqlite_store().await;
    let read = SqlReadStore::from(SqliteReadStore::from_pool(store.pool().clone()));
    read.migrate().await.unwrap();
    bank_views_agree!(store, read, bank::views);
}

#[tokio::test]
async fn the_bank_views_written_once_agree_with_the_events_on_mariadb() {
    let store = support::postgres_store().await;
    let mysql = support::mysql_read_store().await;
    let read = SqlReadStore::from(mysql.clone());
    bank_views_agree!(store, read, bank::views);
    support::drop_mysql_database(&mysql).await;
}
