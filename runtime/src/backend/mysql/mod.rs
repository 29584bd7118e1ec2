//! The MariaDB (and MySQL) backend: a read store ([`MySqlReadStore`]) through sqlx's MySQL
//! driver, for read models kept in MariaDB while the events stay in Postgres or SQLite.
//!
//! Where things are: `read_store.rs` the read store (sessions, leadership by named lock,
//! read-only transactions, migration); `location.rs` its blue/green locations (a database each); `errors.rs` the one sorting of MariaDB's error numbers;
//! `sql/` every statement (`read_store.sql`) and the tables (`read_store_migrate.sql`). The
//! checkpoint, dead-letter and consumer methods are the shared ones of `backend/sql`.

pub(crate) mod errors;
mod location;
mod read_store;

pub use self::read_store::MySqlReadStore;

crate::backend::sql::fetch::fetch_impls!(
    sqlx::MySql,
    sqlx::MySqlConnection,
    sqlx::mysql::MySqlRow,
    sqlx::mysql::MySqlArguments
);
