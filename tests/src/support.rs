//! Connections to the real services the tests use.

use bank::{Deposit, OpenAccount, Withdraw};
use chronicle::{Chronicle, PostgresReadStore, PostgresStore, Receipt, SqliteReadStore};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

/// The database the tests use, from `CHRONICLE_TEST_DATABASE_URL` or the local default.
pub fn database_url() -> String {
    std::env::var("CHRONICLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/chronicle_test".to_owned())
}

/// Creates the test database if it is missing (racing tests may both try).
async fn ensure_database(url: &str) {
    let (server, name) = url
        .rsplit_once('/')
        .expect("the test database URL ends in /<database>");
    let name = name.split('?').next().unwrap_or(name);
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach Postgres at {server} ({e}); start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
            )
        });
    let exists: bool = sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .expect("query pg_database");
    if !exists {
        if let Err(error) = sqlx::query(&format!("create database \"{name}\""))
            .execute(&mut admin)
            .await
        {
            let raced = error
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|c| c == "42P04" || c == "23505");
            assert!(raced, "cannot create the test database {name}: {error}");
        }
    }
}

/// A Postgres store in a fresh schema of the test database, migrated, so tests never see each
/// other's events. Its connections' `search_path` is that schema, so read models written with
/// unqualified table names (inline projections) stay in the test's schema too.
pub async fn postgres_store() -> PostgresStore {
    let url = database_url();
    ensure_database(&url).await;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let options = url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .expect("a valid test database URL")
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await
        .expect("connect to the test database");
    let store = PostgresStore::from_pool(pool)
        .with_schema(&schema)
        .expect("valid schema name");
    store.migrate().await.expect("migrate the test schema");
    store
}

/// An embedded SQLite store in a fresh temporary file, migrated.
pub async fn sqlite_store() -> chronicle::SqliteStore {
    let path = std::env::temp_dir().join(format!("chronicle-test-{}.db", uuid::Uuid::new_v4().simple()));
    let store = chronicle::SqliteStore::open(&path)
        .await
        .expect("open a temporary SQLite file");
    store.migrate().await.expect("migrate SQLite");
    store
}

/// The second test database, for read models kept apart from the events: from
/// `CHRONICLE_TEST_READ_DATABASE_URL`, or the events' URL with the database `chronicle_test_read`.
pub fn read_database_url() -> String {
    std::env::var("CHRONICLE_TEST_READ_DATABASE_URL").unwrap_or_else(|_| {
        let url = database_url();
        let (server, _) = url
            .rsplit_once('/')
            .expect("the test database URL ends in /<database>");
        format!("{server}/chronicle_test_read")
    })
}

/// A Postgres read store next to `store`'s events: the same pool and schema, migrated.
pub async fn postgres_read_store_beside(store: &PostgresStore) -> PostgresReadStore {
    let read = PostgresReadStore::from_pool(store.pool().clone())
        .with_schema(store.schema())
        .expect("valid schema name");
    read.migrate().await.expect("migrate the read store");
    read
}

/// A Postgres read store in a fresh schema of the read-model test database (created if
/// missing), migrated.
pub async fn postgres_read_store_elsewhere() -> PostgresReadStore {
    let url = read_database_url();
    ensure_database(&url).await;
    let schema = format!("r_{}", uuid::Uuid::new_v4().simple());
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .expect("connect to the read-model test database");
    let read = PostgresReadStore::from_pool(pool)
        .with_schema(&schema)
        .expect("valid schema name");
    read.migrate().await.expect("migrate the read store");
    read
}

/// A SQLite read store in a fresh temporary file, migrated.
pub async fn sqlite_read_store() -> SqliteReadStore {
    let path = std::env::temp_dir().join(format!("chronicle-read-{}.db", uuid::Uuid::new_v4().simple()));
    let read = SqliteReadStore::open(&path)
        .await
        .expect("open a temporary SQLite file");
    read.migrate().await.expect("migrate the read store");
    read
}

/// The bank's write side on a fresh Postgres store, with its commands as one-liners that expect
/// success.
pub struct PgBank {
    /// The store, for read sides and raw SQL.
    pub store: PostgresStore,
    /// The write side on it.
    pub bank: Chronicle<PostgresStore>,
}

impl PgBank {
    /// A bank on a fresh store (see [`postgres_store`]).
    pub async fn new() -> Self {
        let store = postgres_store().await;
        Self {
            bank: Chronicle::new(store.clone()),
            store,
        }
    }

    /// Opens `account` with an overdraft limit of 100.
    pub async fn open(&self, account: &str) -> Receipt {
        self.bank
            .execute(OpenAccount {
                account_id: account.into(),
                owner: format!("owner of {account}"),
                overdraft_limit: 100,
            })
            .await
            .expect("open account")
    }

    /// Deposits `amount` on `account`.
    pub async fn deposit(&self, account: &str, amount: i64) -> Receipt {
        self.bank
            .execute(Deposit {
                account_id: account.into(),
                amount,
            })
            .await
            .expect("deposit")
    }

    /// Withdraws `amount` from `account`.
    pub async fn withdraw(&self, account: &str, amount: i64) -> Receipt {
        self.bank
            .execute(Withdraw {
                account_id: account.into(),
                amount,
            })
            .await
            .expect("withdraw")
    }
}
