//! Inline projections: the read model is written in the append's own transaction, so it is never
//! stale, and a failing handler takes the append down with it. `migrate` prepares the read
//! model; its handlers see the store's schema and nothing else.

use bank::views::postgres::{AccountBalances, BalanceOf};
use bank::{Deposit, OpenAccount, Withdraw};
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{HandlerError, ReadSide, RecordedEvent, StoreError};
use chronicle_tests::support;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use chronicle::GroupCommit;
use chronicle_tests::conformance::write::{deposit, open};
use chronicle_tests::counts::{counted, Counts};
use futures_util::future::join_all;

use super::{cleanup, fresh_store};

#[tokio::test]
async fn the_view_is_current_the_moment_the_command_returns() {
    let store = support::unmigrated_postgres_store().await;
    let plain = store.clone();
    // ANCHOR: inline
    let store = store.with_inline(AccountBalances);
    // Creates the view's table (its `#[reset]`) and fills it from the events stored so far.
    store.migrate().await.unwrap();
    let bank = Chronicle::new(store.clone());
    bank.execute(OpenAccount {
        account_id: "i-1".into(),
        owner: "Ada".into(),
        overdraft_limit: 10,
    })
    .await
    .unwrap();
    bank.execute(Deposit {
        account_id: "i-1".into(),
        amount: 70,
    })
    .await
    .unwrap();
    bank.execute(Withdraw {
        account_id: "i-1".into(),
        amount: 20,
    })
    .await
    .unwrap();

    // No runner and no waiting: the query sees every write already.
    let views = support::postgres_read_store_beside(&store).await;
    let read_side = ReadSide::new(store.clone(), views);
    let balance = read_side
        .query(
            &AccountBalances,
            &BalanceOf {
                account_id: "i-1".into(),
            },
        )
        .await
        .unwrap()
        .expect("the account is in the view");
    assert_eq!((balance.balance, balance.available), (50, 60));
    // ANCHOR_END: inline
    cleanup(plain).await;
}

async fn balance(read_side: &ReadSide<PostgresStore, PostgresReadStore>, account: &str) -> Option<i64> {
    read_side
        .query(
            &AccountBalances,
            &BalanceOf {
                account_id: account.into(),
            },
        )
        .await
        .unwrap()
        .map(|row| row.balance)
}

#[tokio::test]
async fn migrate_prepares_the_view_from_the_events_already_stored() {
    let plain = support::unmigrated_postgres_store().await;
    plain.migrate().await.unwrap();
    // Events from before the view existed.
    let before = Chronicle::new(plain.clone());
    for account in ["p-1", "p-2"] {
        before
            .execute(OpenAccount {
                account_id: account.into(),
                owner: "Ada".into(),
                overdraft_limit: 0,
            })
            .await
            .unwrap();
    }
    before
        .execute(Deposit {
            account_id: "p-1".into(),
            amount: 30,
        })
        .await
        .unwrap();

    let store = plain.clone().with_inline(AccountBalances);
    store.migrate().await.unwrap();
    let read_side = ReadSide::new(store.clone(), support::postgres_read_store_beside(&store).await);
    assert_eq!(balance(&read_side, "p-1").await, Some(30));
    assert_eq!(balance(&read_side, "p-2").await, Some(0));

    // Prepared once: migrating again applies nothing twice; appends keep it current.
    store.migrate().await.unwrap();
    assert_eq!(balance(&read_side, "p-1").await, Some(30));
    Chronicle::new(store.clone())
        .execute(Deposit {
            account_id: "p-2".into(),
            amount: 4,
        })
        .await
        .unwrap();
    assert_eq!(balance(&read_side, "p-2").await, Some(4));
    cleanup(plain).await;
}

/// The pool's connections look for tables in another schema first, where a table of the view's
/// name exists; the handlers (and `migrate`'s preparation) still write the store's own.
#[tokio::test]
async fn handlers_see_the_stores_schema_and_nothing_else() {
    let url = support::database_url();
    support::ensure_database(&url).await;
    let decoy = support::fresh_schema_name();
    let options = url
        .parse::<PgConnectOptions>()
        .unwrap()
        .options([("search_path", format!("{decoy},public"))]);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA {decoy}; \
         CREATE TABLE {decoy}.bank_account_balances (account_id TEXT PRIMARY KEY, owner TEXT NOT NULL, \
             balance BIGINT NOT NULL, overdraft_limit BIGINT NOT NULL)"
    ))
    .execute(&pool)
    .await
    .unwrap();

    let plain = PostgresStore::from_pool(pool.clone())
        .with_schema(&support::fresh_schema_name())
        .unwrap();
    let store = plain.clone().with_inline(AccountBalances);
    store.migrate().await.unwrap();
    let bank = Chronicle::new(store.clone());
    bank.execute(OpenAccount {
        account_id: "s-1".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    })
    .await
    .unwrap();
    bank.execute(Deposit {
        account_id: "s-1".into(),
        amount: 9,
    })
    .await
    .unwrap();

    let count = |schema: String| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {schema}.bank_account_balances"))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(decoy.clone()).await, 0, "nothing in the other schema");
    assert_eq!(count(store.schema().to_owned()).await, 1);
    let read_side = ReadSide::new(store.clone(), support::postgres_read_store_beside(&store).await);
    assert_eq!(balance(&read_side, "s-1").await, Some(9));

    sqlx::raw_sql(&format!("DROP SCHEMA {decoy} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    cleanup(plain).await;
}

/// Fails on deposits above a threshold, as a stand-in for a broken read model.
#[derive(Default)]
struct Fussy;

#[derive(Debug, thiserror::Error)]
#[error("deposit of {0} refused by the read model")]
struct TooBig(i64);

#[projection(name = "test.fussy")]
impl Fussy {
    #[on]
    async fn deposited(
        &self,
        event: &bank::MoneyDeposited,
        _meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        sqlx::query("SELECT 1")
            .execute(&mut *db)
            .await
            .map_err(HandlerError::new)?;
        if event.amount > 100 {
            return Err(HandlerError::new(TooBig(event.amount)));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_inline_handler_rolls_the_append_back() {
    let plain = support::unmigrated_postgres_store().await;
    let store = plain.clone().with_inline(Fussy);
    store.migrate().await.unwrap();
    let bank = Chronicle::new(store.clone());
    bank.execute(OpenAccount {
        account_id: "i-2".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    })
    .await
    .unwrap();
    bank.execute(Deposit {
        account_id: "i-2".into(),
        amount: 100,
    })
    .await
    .unwrap();
    let error = bank
        .execute(Deposit {
            account_id: "i-2".into(),
            amount: 101,
        })
        .await
        .unwrap_err();
    match &error {
        CommandError::Store(StoreError::InlineProjection {
            projection: "test.fussy",
            source,
        }) => {
            assert!(source.to_string().contains("deposit of 101"), "{source}");
        }
        other => panic!("expected an inline projection error, got {other:?}"),
    }
    // Nothing of the failed command was stored.
    assert_eq!(store.read_stream("bank.Account-i-2", 0).await.unwrap().len(), 2);
    cleanup(plain).await;
}

/// A table of the view's name in `public` too: another tenant's, another deployment's. The
/// inline handlers must never write there.
async fn decoy_in_public(store: &PostgresStore) -> i64 {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS public.robust_counts (stream_id TEXT PRIMARY KEY, n BIGINT NOT NULL)",
    )
    .execute(store.pool())
    .await
    .expect("the decoy table");
    sqlx::query_scalar("SELECT count(*) FROM public.robust_counts")
        .fetch_one(store.pool())
        .await
        .expect("count the decoy")
}

async fn decoy_rows(store: &PostgresStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM public.robust_counts")
        .fetch_one(store.pool())
        .await
        .expect("count the decoy")
}

#[tokio::test]
async fn inline_handlers_see_their_schema_through_group_commit() {
    let plain = fresh_store().await;
    let before = decoy_in_public(&plain).await;
    let store = plain
        .with_inline(Counts)
        .with_group_commit(GroupCommit::default());
    store.migrate().await.expect("migrate");
    let bank = Chronicle::new(store.clone());
    // Concurrent commands on distinct streams, so that the committers group them.
    let ids: Vec<String> = (0..20).map(|i| format!("g-{i}")).collect();
    join_all(ids.iter().map(|id| bank.execute(open(id))))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("every open");
    join_all(ids.iter().map(|id| bank.execute(deposit(id, 1))))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("every deposit");
    for id in &ids {
        assert_eq!(
            counted(&store, store.schema(), &format!("bank.Account-{id}")).await,
            Some(2),
            "{id}"
        );
    }
    assert_eq!(decoy_rows(&store).await, before, "nothing was written to public");
}

#[tokio::test]
async fn two_migrations_at_once_prepare_an_inline_view_once() {
    // Events recorded before the view existed.
    let plain = fresh_store().await;
    let bank = Chronicle::new(plain.clone());
    bank.execute(open("p-1")).await.expect("open");
    bank.execute(deposit("p-1", 1)).await.expect("deposit");
    bank.execute(deposit("p-1", 2)).await.expect("deposit");

    let store = plain.with_inline(Counts);
    // Twice, and from two handles at once: prepared once, under the lock.
    let other = store.clone();
    let (first, second) = tokio::join!(store.migrate(), other.migrate());
    first.expect("migrate");
    second.expect("migrate");
    store.migrate().await.expect("migrate again");
    assert_eq!(
        counted(&store, store.schema(), "bank.Account-p-1").await,
        Some(3),
        "the view holds the stored events exactly once"
    );

    // New commands update the prepared view inline.
    Chronicle::new(store.clone())
        .execute(deposit("p-1", 3))
        .await
        .expect("deposit");
    assert_eq!(counted(&store, store.schema(), "bank.Account-p-1").await, Some(4));
}

/// The same view at a new version: `migrate` rebuilds it from the log.
#[derive(Default)]
struct CountsV2;

#[projection(name = "test.robust_counts", version = 2)]
impl CountsV2 {
    #[reset]
    async fn reset(&self, db: &mut chronicle::sqlx::PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS robust_counts (stream_id TEXT PRIMARY KEY, n BIGINT NOT NULL)",
        )
        .execute(&mut *db)
        .await?;
        // Version 2 counts in tens.
        sqlx::query("DELETE FROM robust_counts").execute(&mut *db).await?;
        Ok(())
    }

    #[on]
    async fn opened(
        &self,
        _event: &bank::AccountOpened,
        meta: &RecordedEvent,
        db: &mut chronicle::sqlx::PgConnection,
    ) -> Result<(), sqlx::Error> {
        tens(db, &meta.stream_id).await
    }

    #[on]
    async fn deposited(
        &self,
        _event: &bank::MoneyDeposited,
        meta: &RecordedEvent,
        db: &mut chronicle::sqlx::PgConnection,
    ) -> Result<(), sqlx::Error> {
        tens(db, &meta.stream_id).await
    }
}

async fn tens(db: &mut chronicle::sqlx::PgConnection, stream_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO robust_counts (stream_id, n) VALUES ($1, 10) \
         ON CONFLICT (stream_id) DO UPDATE SET n = robust_counts.n + 10",
    )
    .bind(stream_id)
    .execute(&mut *db)
    .await
    .map(drop)
}

#[tokio::test]
async fn a_new_version_of_an_inline_view_is_prepared_again() {
    let plain = fresh_store().await;
    let v1 = plain.clone().with_inline(Counts);
    v1.migrate().await.expect("migrate v1");
    let bank = Chronicle::new(v1.clone());
    bank.execute(open("v-1")).await.expect("open");
    bank.execute(deposit("v-1", 1)).await.expect("deposit");
    assert_eq!(counted(&v1, v1.schema(), "bank.Account-v-1").await, Some(2));

    let v2 = plain.with_inline(CountsV2);
    v2.migrate().await.expect("migrate v2");
    v2.migrate().await.expect("migrate v2 again");
    assert_eq!(counted(&v2, v2.schema(), "bank.Account-v-1").await, Some(20));
}
