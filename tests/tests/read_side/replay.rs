//! Time travel on the read side: a projection's read model as it was at a position or a time,
//! rebuilt into a separate read store while the live one carries on (Postgres and SQLite). (An
//! aggregate as it was is in the conformance suite: `conformance::time_travel`.)

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::{replay_until, ReplayError, Until};
use chronicle::{ProjectionRunner, ReadStore, Receipt};
use chronicle_tests::conformance::time_travel::clock_passes;
use chronicle_tests::conformance::write::{deposit, open, withdraw};
use chronicle_tests::support;

/// A balance view, declared for both engines. Its `#[reset]` touches only the read store's own
/// schema or file (`CREATE TABLE IF NOT EXISTS`, then `DELETE`), as a replay target needs.
macro_rules! balances_view {
    ($connection:ty) => {
        use chronicle::prelude::*;
        use chronicle::sqlx;

        // ANCHOR: view
        pub struct Balances;

        #[projection(name = "test.balances", version = 1)]
        impl Balances {
            #[reset]
            async fn reset(&self, db: &mut $connection) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS tt_balances (account_id TEXT PRIMARY KEY, balance BIGINT NOT NULL)",
                )
                .execute(&mut *db)
                .await?;
                sqlx::query("DELETE FROM tt_balances").execute(&mut *db).await?;
                Ok(())
            }

            #[on]
            async fn opened(&self, event: &bank::AccountOpened, db: &mut $connection) -> Result<(), sqlx::Error> {
                sqlx::query("INSERT INTO tt_balances VALUES ($1, 0)")
                    .bind(&event.account_id)
                    .execute(&mut *db)
                    .await?;
                Ok(())
            }

            #[on]
            async fn deposited(
                &self,
                event: &bank::MoneyDeposited,
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE tt_balances SET balance = balance + $2 WHERE account_id = $1")
                    .bind(&event.account_id)
                    .bind(event.amount)
                    .execute(&mut *db)
                    .await?;
                Ok(())
            }

            #[on]
            async fn withdrawn(
                &self,
                event: &bank::MoneyWithdrawn,
                db: &mut $connection,
            ) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE tt_balances SET balance = balance - $2 WHERE account_id = $1")
                    .bind(&event.account_id)
                    .bind(event.amount)
                    .execute(&mut *db)
                    .await?;
                Ok(())
            }
        }
        // ANCHOR_END: view
    };
}

mod pg_view {
    balances_view!(chronicle::sqlx::PgConnection);
}

mod sqlite_view {
    balances_view!(chronicle::sqlx::SqliteConnection);
}

type Rows = Vec<(String, i64)>;

const ROWS: &str = "SELECT account_id, balance FROM tt_balances ORDER BY account_id";

/// The first part of the log: what the view shows "as of" its last event.
async fn first_part<S: EventStore>(bank: &Chronicle<S>) -> Receipt {
    bank.execute(open("r-1")).await.unwrap();
    bank.execute(deposit("r-1", 100)).await.unwrap();
    bank.execute(open("r-2")).await.unwrap();
    bank.execute(withdraw("r-1", 40)).await.unwrap()
}

/// Everything after: more money, and an account the past did not have.
async fn second_part<S: EventStore>(bank: &Chronicle<S>, then: &Receipt) -> Receipt {
    // Recorded after the first part's last event, whatever the clock's resolution.
    let last = bank
        .store()
        .read_all(then.position.unwrap() - 1, 1)
        .await
        .unwrap()[0]
        .recorded_at;
    clock_passes(last).await;
    bank.execute(deposit("r-2", 7)).await.unwrap();
    bank.execute(open("r-3")).await.unwrap();
    bank.execute(deposit("r-1", 1)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replay_until_a_position_or_time_shows_the_view_as_it_was(
) -> Result<(), Box<dyn std::error::Error>> {
    let store = support::postgres_store().await;
    let live = support::postgres_read_store_beside(&store).await;
    let bank = Chronicle::new(store.clone());
    let runner = ProjectionRunner::new(store.clone(), live.clone(), pg_view::Balances).spawn();
    let wait = Duration::from_secs(10);

    let then = first_part(&bank).await;
    runner.wait_for(then.position, wait).await.unwrap();
    let view_then: Rows = sqlx::query_as(ROWS)
        .fetch_all(&mut live_conn(&live).await)
        .await
        .unwrap();
    assert_eq!(view_then, [("r-1".to_owned(), 60), ("r-2".to_owned(), 0)]);

    let last = second_part(&bank, &then).await;
    runner.wait_for(last.position, wait).await.unwrap();
    let live_checkpoint = live.read_checkpoint("test.balances").await.unwrap();
    let view_now: Rows = sqlx::query_as(ROWS)
        .fetch_all(&mut live_conn(&live).await)
        .await
        .unwrap();

    // ANCHOR: replay
    // A schema of its own: the live read model and its checkpoint stay as they are.
    let past = chronicle::PostgresReadStore::from_pool(store.pool().clone())
        .with_schema(&format!("{}_past", store.schema()))?;
    let replayed = replay_until(
        &store,
        &pg_view::Balances,
        &past,
        Until::Position(then.position.unwrap()),
    )
    .await?;
    // ANCHOR_END: replay
    assert_eq!(replayed.through, then.position);
    assert_eq!(replayed.applied, 4);
    let view_replayed: Rows =
        sqlx::query_as(&ROWS.replace("tt_balances", &format!("{}.tt_balances", past.schema())))
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(view_replayed, view_then, "the view as of the position");
    assert!(
        past.read_checkpoint("test.balances").await.unwrap().is_none(),
        "a replay writes no checkpoint"
    );

    // By time: the time of the first part's last event.
    let recorded_then = store.read_all(then.position.unwrap() - 1, 1).await.unwrap()[0].recorded_at;
    let by_time = chronicle::PostgresReadStore::from_pool(store.pool().clone())
        .with_schema(&format!("{}_time", store.schema()))
        .unwrap();
    let replayed = replay_until(&store, &pg_view::Balances, &by_time, Until::Time(recorded_then))
        .await
        .unwrap();
    assert_eq!(replayed.through, then.position);
    let view_by_time: Rows =
        sqlx::query_as(&ROWS.replace("tt_balances", &format!("{}.tt_balances", by_time.schema())))
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(view_by_time, view_then, "the view as of the time");

    // Replaying again into the same target starts over rather than adding up.
    replay_until(
        &store,
        &pg_view::Balances,
        &past,
        Until::Position(then.position.unwrap()),
    )
    .await
    .unwrap();
    let again: Rows = sqlx::query_as(&ROWS.replace("tt_balances", &format!("{}.tt_balances", past.schema())))
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(again, view_then);

    // The live read model never moved.
    assert_eq!(
        live.read_checkpoint("test.balances").await.unwrap(),
        live_checkpoint
    );
    let view_after: Rows = sqlx::query_as(ROWS)
        .fetch_all(&mut live_conn(&live).await)
        .await
        .unwrap();
    assert_eq!(view_after, view_now);
    assert_eq!(view_now.len(), 3);

    // The live read store itself is refused as a target.
    let refused = replay_until(&store, &pg_view::Balances, &live, Until::Position(1)).await;
    assert!(
        matches!(
            refused,
            Err(ReplayError::TargetIsLive {
                projection: "test.balances"
            })
        ),
        "{refused:?}"
    );
    let view_after: Rows = sqlx::query_as(ROWS)
        .fetch_all(&mut live_conn(&live).await)
        .await
        .unwrap();
    assert_eq!(view_after, view_now);
    runner.stop().await.into_result()?;
    Ok(())
}

/// A connection on the live read store's schema (its `search_path`).
async fn live_conn(live: &chronicle::PostgresReadStore) -> sqlx::PgConnection {
    live.connect().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_replay_until_a_position_or_time_shows_the_view_as_it_was() {
    let store = support::sqlite_store().await;
    let live = support::sqlite_read_store().await;
    let bank = Chronicle::new(store.clone());
    let runner = ProjectionRunner::new(store.clone(), live.clone(), sqlite_view::Balances).spawn();
    let wait = Duration::from_secs(10);

    let then = first_part(&bank).await;
    runner.wait_for(then.position, wait).await.unwrap();
    let view_then: Rows = sqlx::query_as(ROWS).fetch_all(live.pool()).await.unwrap();
    let last = second_part(&bank, &then).await;
    runner.wait_for(last.position, wait).await.unwrap();
    let live_checkpoint = live.read_checkpoint("test.balances").await.unwrap();
    let view_now: Rows = sqlx::query_as(ROWS).fetch_all(live.pool()).await.unwrap();
    assert_ne!(view_now, view_then);

    let past = support::sqlite_read_store().await;
    let replayed = replay_until(
        &store,
        &sqlite_view::Balances,
        &past,
        Until::Position(then.position.unwrap()),
    )
    .await
    .unwrap();
    assert_eq!((replayed.through, replayed.applied), (then.position, 4));
    let view_replayed: Rows = sqlx::query_as(ROWS).fetch_all(past.pool()).await.unwrap();
    assert_eq!(view_replayed, view_then);

    let recorded_then = store.read_all(then.position.unwrap() - 1, 1).await.unwrap()[0].recorded_at;
    let by_time = support::sqlite_read_store().await;
    replay_until(
        &store,
        &sqlite_view::Balances,
        &by_time,
        Until::Time(recorded_then),
    )
    .await
    .unwrap();
    let view_by_time: Rows = sqlx::query_as(ROWS).fetch_all(by_time.pool()).await.unwrap();
    assert_eq!(view_by_time, view_then);

    assert_eq!(
        live.read_checkpoint("test.balances").await.unwrap(),
        live_checkpoint
    );
    let refused = replay_until(&store, &sqlite_view::Balances, &live, Until::Position(1)).await;
    assert!(
        matches!(refused, Err(ReplayError::TargetIsLive { .. })),
        "{refused:?}"
    );
    let view_after: Rows = sqlx::query_as(ROWS).fetch_all(live.pool()).await.unwrap();
    assert_eq!(view_after, view_now);
    runner.stop().await.into_result().unwrap();
}
