//! The Postgres backend: the production event store ([`PostgresStore`], with group commit and
//! inline projections) and read store ([`PostgresReadStore`]).
//!
//! Where things are: `store.rs` the store's handle, configuration and migration; `database.rs`
//! what it runs statements on, with `connections.rs` the connections it keeps itself and
//! `statements.rs` its SQL (from `sql/`); `append.rs` appends; `reads.rs` reads and snapshots,
//! `rows.rs` reading rows; `source.rs` the gap-free subscription order; `wake_up.rs` and
//! `listen.rs` the notifications after appends; `group_commit.rs` and `inline.rs` the two append
//! modes; `read_store.rs` the read store, `location.rs` its blue/green locations (a schema each); `keys.rs` the key store of `#[pii]` fields (`chronicle_subject_keys`); `roles.rs` the roles of least
//! privilege; `errors.rs` the one sorting of Postgres' SQLSTATE
//! codes; `schema.rs` the names Chronicle puts into SQL.

mod append;
mod connections;
mod database;
pub(crate) mod errors;
mod group_commit;
mod inline;
mod keys;
mod listen;
mod location;
mod read_store;
mod reads;
mod roles;
mod rows;
mod schema;
mod source;
mod statements;
mod store;
mod wake_up;

pub use self::group_commit::GroupCommit;
pub use self::read_store::PostgresReadStore;
pub use self::roles::Roles;
pub use self::store::PostgresStore;

crate::backend::sql::fetch::fetch_impls!(
    sqlx::Postgres,
    sqlx::PgConnection,
    sqlx::postgres::PgRow,
    sqlx::postgres::PgArguments
);
