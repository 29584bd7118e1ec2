//! Projections written once for every SQL engine: [`SqlReadStore`] runs on Postgres, SQLite or
//! MariaDB, chosen when the application starts, and hands its projections' handlers a [`Sql`]
//! connection whatever the engine.
//!
//! Where things are: `store.rs` the store (every method the engine's own store, underneath);
//! `connection.rs` [`Sql`], its sessions and transactions, and running statements on each
//! driver; `statement.rs` [`SqlStatement`], its values, and the `$n`-to-`?` rewriting for
//! MariaDB.

mod connection;
mod statement;
mod store;

pub use self::connection::{engines, FromSqlRow, Sql, SqlEngine, SqlRead, SqlSession, SqlWrite};
pub use self::statement::{sql, sql_as, NoRows, SqlStatement, SqlTuple, SqlValue};
pub use self::store::SqlReadStore;
