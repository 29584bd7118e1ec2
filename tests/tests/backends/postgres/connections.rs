//! Connections: a server that is not there, and sessions the server ends.

use std::time::Duration;

use bank::{Account, Deposit, OpenAccount};
use chronicle::prelude::*;
use chronicle::StoreError;
use chronicle_tests::conformance::events::command;
use chronicle_tests::wait::{eventually, DEADLINE};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use super::{cleanup, fresh_store};

#[tokio::test]
async fn unreachable_database_is_unavailable() {
    // Nothing listens on port 1 of the loopback address. (`PostgresStore::connect` would keep
    // retrying a refused connection for the pool's default 30 s: hence a pool of our own.)
    let url = "postgres://postgres@127.0.0.1:1/chronicle_test";
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy(url)
        .expect("lazy pool");
    let store = PostgresStore::from_pool(pool);
    let err = store.append("s", 0, command(1)).await.expect_err("append");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store.read_stream("s", 0).await.expect_err("read_stream");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store.migrate().await.expect_err("migrate");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store
        .find_command(Uuid::new_v4())
        .await
        .expect_err("find_command");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("unavailable"), "{err}");
}

#[tokio::test]
async fn listen_on_an_unreachable_database_is_unavailable() {
    // Nothing listens on port 1 of the loopback address.
    let unreachable = PostgresStore::from_pool(
        PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(300))
            .connect_lazy("postgres://postgres@127.0.0.1:1/chronicle_test")
            .expect("lazy pool"),
    );
    let err = unreachable.listen().await.expect_err("listen");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_database_that_is_not_there_is_reported_as_unavailable() {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nowhere")
        .unwrap();
    let bank = Chronicle::new(PostgresStore::from_pool(pool));
    let error = bank
        .execute(Deposit {
            account_id: "p-3".into(),
            amount: 1,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(error, CommandError::Store(StoreError::Unavailable(_))),
        "{error:?}"
    );
    assert!(error.to_string().contains("unavailable"), "{error}");
}

/// The store keeps connections of its own for its statements. One the server drops fails the
/// statement that finds it dropped, with `Unavailable`, and is not used again.
#[tokio::test]
async fn a_connection_the_server_dropped_fails_one_command_and_is_replaced() {
    let plain = fresh_store().await;
    let application = format!("chronicle-dropped-{}", Uuid::new_v4().simple());
    let options = (*plain.pool().connect_options())
        .clone()
        .application_name(&application);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool)
        .with_schema(plain.schema())
        .unwrap();
    let bank = Chronicle::new(store.clone());
    bank.execute(OpenAccount {
        account_id: "k-1".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    })
    .await
    .unwrap();

    // The server ends every session of this store (and of nobody else), and the test waits
    // until they are gone from the server's list.
    let admin = plain.pool();
    let application = application.as_str();
    let terminate = || async move {
        // In the select list, the function runs for the rows the filter kept, and no others.
        let ended: Vec<(i32, bool)> = sqlx::query_as(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(application)
        .fetch_all(admin)
        .await
        .unwrap();
        assert!(!ended.is_empty(), "the store held a connection");
        let ended: Vec<i32> = ended.into_iter().map(|(pid, _)| pid).collect();
        eventually("the ended sessions to be gone", DEADLINE, || {
            let ended = &ended;
            async move {
                let left: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
                        .bind(ended)
                        .fetch_one(admin)
                        .await
                        .unwrap();
                (left == 0).then_some(())
            }
        })
        .await;
    };

    // A read finds its connection gone; the next read gets a new one.
    terminate().await;
    let lost = bank.load::<Account>("k-1").await;
    assert!(matches!(lost, Err(StoreError::Unavailable(_))), "{lost:?}");
    assert_eq!(bank.load::<Account>("k-1").await.unwrap().version, 1);

    // So does a command.
    terminate().await;
    let deposit = || Deposit {
        account_id: "k-1".into(),
        amount: 5,
    };
    let first = bank.execute(deposit()).await;
    assert!(
        matches!(first, Err(CommandError::Store(StoreError::Unavailable(_)))),
        "{first:?}"
    );
    let second = bank
        .execute(deposit())
        .await
        .expect("a fresh connection serves the next command");
    assert_eq!(second.stream_version, 2);
    assert_eq!(bank.load::<Account>("k-1").await.unwrap().state.balance(), 5);
    store.pool().close().await;
    cleanup(plain).await;
}

/// Subscribers are woken by a task of the store, started by the first append. When the runtime
/// that ran it is gone, the next append, on another runtime, starts another.
#[test]
fn wake_ups_outlive_the_runtime_that_started_them() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let store = first.block_on(fresh_store());
    let bank = Chronicle::new(store.clone());
    first
        .block_on(bank.execute(OpenAccount {
            account_id: "w-1".into(),
            owner: "Ada".into(),
            overdraft_limit: 0,
        }))
        .unwrap();
    drop(first);

    runtime().block_on(async {
        let deposit = || Deposit {
            account_id: "w-1".into(),
            amount: 1,
        };
        // The first runtime's connections went with it: commands fail until new ones are open.
        let mut attempts = 0;
        while bank.execute(deposit()).await.is_err() {
            attempts += 1;
            assert!(attempts < 20, "the store never recovered its connections");
        }
        let mut listener = store.listen().await.unwrap();
        bank.execute(deposit()).await.unwrap();
        assert!(
            listener.wait(Duration::from_secs(3)).await,
            "an append on the new runtime woke the listener"
        );
        cleanup(store).await;
    });
}
