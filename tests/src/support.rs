//! Connections to the real services the tests use.
//!
//! The Postgres server is `CHRONICLE_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/chronicle_test`; the database is created if missing and
//! every test works in a schema of its own, so tests run in parallel. The MariaDB server is
//! `CHRONICLE_TEST_MYSQL_URL`, by default `mysql://root@127.0.0.1:3306/test`; every test works in
//! a database of its own there. A server that cannot be reached fails the tests: it is never a
//! reason to skip them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bank::{Deposit, OpenAccount, Withdraw};
use chronicle::{
    Chronicle, MySqlReadStore, PostgresReadStore, PostgresStore, Receipt, SqliteReadStore, SqliteStore,
};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

/// The database the tests use, from `CHRONICLE_TEST_DATABASE_URL` or the local default.
pub fn database_url() -> String {
    std::env::var("CHRONICLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/chronicle_test".to_owned())
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

/// Fails the test with what to do about a Postgres that cannot be used.
pub fn unreachable(url: &str, error: impl std::fmt::Display) -> ! {
    panic!(
        "cannot use the test Postgres at {url}: {error}\n\
         These tests need a running Postgres (13 or later). Start one, e.g.\n  \
         pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or\n  \
         docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16\n\
         or point CHRONICLE_TEST_DATABASE_URL at a server where the user may create databases."
    )
}

/// Creates the database of `url` if it does not exist yet; tests racing to create it all
/// succeed.
pub async fn ensure_database(url: &str) {
    static EVENTS: AtomicBool = AtomicBool::new(false);
    static READ: AtomicBool = AtomicBool::new(false);
    let ready = if url == database_url() { &EVENTS } else { &READ };
    if ready.load(Ordering::Acquire) {
        return;
    }
    let options: PgConnectOptions = url
        .parse()
        .unwrap_or_else(|e| panic!("invalid test database URL `{url}`: {e}"));
    let database = options
        .get_database()
        .unwrap_or_else(|| panic!("the test database URL `{url}` names no database"))
        .to_owned();
    let mut admin = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .unwrap_or_else(|e| unreachable(url, e));
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&database)
        .fetch_one(&mut admin)
        .await
        .unwrap_or_else(|e| unreachable(url, e));
    if !exists {
        let create = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
        if let Err(e) = sqlx::raw_sql(&create).execute(&mut admin).await {
            // 42P04: created meanwhile by a parallel test; 23505: the same race caught by the
            // catalog's unique index instead.
            let raced = e
                .as_database_error()
                .and_then(|db| db.code())
                .is_some_and(|code| code == "42P04" || code == "23505");
            if !raced {
                unreachable(url, e);
            }
        }
    }
    let _ = admin.close().await;
    ready.store(true, Ordering::Release);
}

/// A name for a test's own schema: `t_<uuid>`.
pub fn fresh_schema_name() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

/// A pool of up to `connections` on the test database, with the driver's defaults otherwise.
pub async fn postgres_pool(connections: u32) -> PgPool {
    let url = database_url();
    ensure_database(&url).await;
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&url)
        .await
        .unwrap_or_else(|e| unreachable(&url, e))
}

/// A store in a new, empty schema of the test database, not yet migrated, on a pool of its own
/// (no `search_path` of the test's: what the store sees of its schema is its own doing).
pub async fn unmigrated_postgres_store() -> PostgresStore {
    PostgresStore::from_pool(postgres_pool(8).await)
        .with_schema(&fresh_schema_name())
        .expect("a generated schema name is valid")
}

/// A Postgres store in a fresh schema of the test database, migrated, so tests never see each
/// other's events. Its connections' `search_path` is that schema, so that tests can write raw
/// SQL with unqualified table names (`chronicle_events`, read-model tables) through its pool.
pub async fn postgres_store() -> PostgresStore {
    let url = database_url();
    ensure_database(&url).await;
    let schema = fresh_schema_name();
    let options = url
        .parse::<PgConnectOptions>()
        .expect("a valid test database URL")
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await
        .unwrap_or_else(|e| unreachable(&url, e));
    let store = PostgresStore::from_pool(pool)
        .with_schema(&schema)
        .expect("valid schema name");
    store.migrate().await.expect("migrate the test schema");
    store
}

/// Drops the store's schema and closes its pool. Tests call it when they pass: a failed test
/// leaves its schema behind for inspection.
pub async fn drop_schema(pool: &PgPool, schema: &str) {
    sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(pool)
        .await
        .expect("drop the test schema");
    pool.close().await;
}

/// A database file in the temporary directory, removed with its WAL files when dropped (also
/// when the test fails).
#[derive(Debug)]
pub struct TempFile(PathBuf);

impl TempFile {
    /// A path that does not exist yet.
    pub fn new(prefix: &str) -> Self {
        Self(std::env::temp_dir().join(format!("{prefix}-{}.db", uuid::Uuid::new_v4().simple())))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An embedded SQLite store in `file`, migrated.
pub async fn sqlite_store_in(file: &TempFile) -> SqliteStore {
    let store = SqliteStore::open(file.path())
        .await
        .expect("open a temporary SQLite file");
    store.migrate().await.expect("migrate SQLite");
    store
}

/// An embedded SQLite store in a fresh temporary file, migrated. The file stays behind; use
/// [`sqlite_store_in`] with a [`TempFile`] to have it removed.
pub async fn sqlite_store() -> SqliteStore {
    let path = std::env::temp_dir().join(format!("chronicle-test-{}.db", uuid::Uuid::new_v4().simple()));
    let store = SqliteStore::open(&path)
        .await
        .expect("open a temporary SQLite file");
    store.migrate().await.expect("migrate SQLite");
    store
}

/// A Postgres read store next to `store`'s events: the same pool and schema, migrated.
pub async fn postgres_read_store_beside(store: &PostgresStore) -> PostgresReadStore {
    let read = PostgresReadStore::beside(store);
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
        .unwrap_or_else(|e| unreachable(&url, e));
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

/// The MariaDB server the tests use, from `CHRONICLE_TEST_MYSQL_URL` or the local default.
pub fn mysql_url() -> String {
    std::env::var("CHRONICLE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// Fails the test with what to do about a MariaDB that cannot be used.
pub fn mysql_unreachable(url: &str, error: impl std::fmt::Display) -> ! {
    panic!(
        "cannot use the test MariaDB at {url}: {error}\n\
         These tests need a running MariaDB (10.6 or later). Start one, e.g.\n  \
         /etc/init.d/mariadb start, or\n  \
         docker run -d -p 3306:3306 -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 mariadb:10.11\n\
         or point CHRONICLE_TEST_MYSQL_URL at a server where the user may create databases."
    )
}

/// A MariaDB read store in a database of its own (`chronicle_r_<random>`, created on the server
/// of [`mysql_url`]), migrated. [`drop_mysql_database`] removes it.
pub async fn mysql_read_store() -> MySqlReadStore {
    let url = mysql_url();
    let options: MySqlConnectOptions = url
        .parse()
        .unwrap_or_else(|e| panic!("invalid test MariaDB URL `{url}`: {e}"));
    let database = format!("chronicle_r_{}", uuid::Uuid::new_v4().simple());
    let mut admin = options
        .connect()
        .await
        .unwrap_or_else(|e| mysql_unreachable(&url, e));
    sqlx::raw_sql(&format!("CREATE DATABASE `{database}`"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| mysql_unreachable(&url, e));
    let _ = admin.close().await;
    let pool = MySqlPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.database(&database))
        .await
        .unwrap_or_else(|e| mysql_unreachable(&url, e));
    let read = MySqlReadStore::from_pool(pool);
    read.migrate().await.expect("migrate the MariaDB read store");
    read
}

/// The database of a MariaDB read store, by name.
pub async fn mysql_database(read: &MySqlReadStore) -> String {
    sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(read.pool())
        .await
        .expect("the store's database")
}

/// Drops the store's database and closes its pool. Tests call it when they pass: a failed test
/// leaves its database behind for inspection.
pub async fn drop_mysql_database(read: &MySqlReadStore) {
    let database = mysql_database(read).await;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{database}`"))
        .execute(read.pool())
        .await
        .expect("drop the test database");
    read.pool().close().await;
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

/// The test Redis server: `CHRONICLE_TEST_REDIS_URL`, else `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("CHRONICLE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Redis read store on the test server with a key prefix of its own (`chronicle_t_<random>`),
/// migrated. [`delete_redis_keys`] removes its keys.
pub async fn redis_read_store() -> chronicle::RedisReadStore {
    redis_read_store_at(&redis_url()).await
}

/// The same on the server at `url`.
pub async fn redis_read_store_at(url: &str) -> chronicle::RedisReadStore {
    let prefix = format!("chronicle_t_{}", uuid::Uuid::new_v4().simple());
    let read = chronicle::RedisReadStore::open(url)
        .unwrap_or_else(|e| panic!("invalid test Redis URL `{url}`: {e}"))
        .prefix(&prefix);
    read.migrate()
        .await
        .unwrap_or_else(|e| panic!("the test Redis at `{url}` is unreachable (start redis-server): {e}"));
    read
}

/// Deletes every key under the store's prefix (`SCAN` + `DEL`).
pub async fn delete_redis_keys(read: &chronicle::RedisReadStore) {
    let mut connection = read
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let pattern = format!("{}:*", read.key_prefix());
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = chronicle::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            let _: () = chronicle::redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut connection)
                .await
                .expect("DEL");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}
