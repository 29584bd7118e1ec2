//! The SQLite backend: the embedded default event store ([`SqliteStore`]) and read store
//! ([`SqliteReadStore`]).
//!
//! Where things are: `store.rs` the event store, its migration and appends; `reads.rs` its reads; `source.rs` its
//! subscription side; `read_store.rs` the read store, `location.rs` its blue/green locations (a file each); `keys.rs` the key store of `#[pii]` fields (`chronicle_subject_keys`); `pool.rs` opening a database file; `errors.rs` the one sorting of
//! SQLite's result codes; `sql/` every statement.

pub(crate) mod errors;
mod keys;
mod location;
mod pool;
mod read_store;
mod reads;
mod source;
mod store;

pub use self::read_store::SqliteReadStore;
pub use self::store::SqliteStore;

crate::backend::sql::fetch::fetch_impls!(
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    sqlx::sqlite::SqliteRow,
    sqlx::sqlite::SqliteArguments<'q>
);
