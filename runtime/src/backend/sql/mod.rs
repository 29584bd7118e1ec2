//! What the SQL backends share: reading event rows, sorting driver errors, SQL kept in `.sql`
//! files, transactions as [`ReadTransaction`]s, and the statements behind queries,
//! checkpoints and consumers.
//!
//! Where things are: this file the [`Dialect`], [`SqlTransaction`] and `section`; `rows.rs`
//! reading event and snapshot rows; `checkpoints.rs` the checkpoint and dead-letter tables;
//! `consumers.rs` the consumer tables; `fetch.rs` `Fetch` for sqlx statements. (The names of
//! blue/green locations are `core/location.rs`'s, which Redis shares.)
//!
//! Each backend says once how its driver's failures are sorted ([`Dialect::classify`]); every
//! store, connection and transaction of that backend goes through it.

pub(crate) mod checkpoints;
pub(crate) mod consumers;
pub(crate) mod fetch;
// Event and snapshot rows are read by the event stores only: MariaDB, a read store alone, uses
// nothing here but `clamp_i64`.
#[cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]
pub(crate) mod rows;

use crate::core::error::{HandlerError, StoreError};
use crate::core::read_store::{ReadStoreError, ReadTransaction};

/// What a driver failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection itself is unusable (a network error, a session the server ended): close
    /// it; the request may succeed on a new one.
    ConnectionLost,
    /// The database cannot serve the request now, though the connection is fine (busy, a
    /// deadlock or serialization failure, no connection free in time): try again later.
    Busy,
    /// The database refused the statement: trying again will not help.
    Refused,
}

impl Failure {
    pub(crate) fn is_transient(self) -> bool {
        !matches!(self, Failure::Refused)
    }
}

/// One SQL backend's driver: its database type, and how its failures are sorted.
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The sqlx database.
    type Database: sqlx::Database;

    /// What a failure the database itself reported (with its code) means.
    fn classify_database(error: &dyn sqlx::error::DatabaseError) -> Failure;

    /// What any driver failure means.
    fn classify(error: &sqlx::Error) -> Failure {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Failure::ConnectionLost,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Failure::Busy,
            sqlx::Error::Database(database) => Self::classify_database(database.as_ref()),
            _ => Failure::Refused,
        }
    }

    /// A driver failure as an event-store error.
    #[cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]
    fn store_error(error: sqlx::Error) -> StoreError {
        if Self::classify(&error).is_transient() {
            StoreError::Unavailable(Box::new(error))
        } else {
            StoreError::Database(Box::new(error))
        }
    }

    /// A driver failure as a read-store error.
    fn read_store_error(error: sqlx::Error) -> ReadStoreError {
        if Self::classify(&error).is_transient() {
            ReadStoreError::Unavailable(Box::new(error))
        } else {
            ReadStoreError::Database(Box::new(error))
        }
    }

    /// Whether a handler failed because of a transient failure of this driver somewhere in its
    /// error's chain of causes.
    fn handler_error_is_transient(error: &HandlerError) -> bool {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error.0.as_ref());
        while let Some(error) = current {
            if let Some(driver) = error.downcast_ref::<sqlx::Error>() {
                if Self::classify(driver).is_transient() {
                    return true;
                }
            }
            current = error.source();
        }
        false
    }
}

/// An sqlx transaction of a SQL read store, as the read side sees it: handlers write through
/// its connection, and its commit is the runner's.
pub struct SqlTransaction<'c, DB: sqlx::Database> {
    transaction: sqlx::Transaction<'c, DB>,
    /// The backend's sorting of its driver's failures.
    map_error: fn(sqlx::Error) -> ReadStoreError,
}

/// Begins a read-only transaction with `statement` on a pool of `D`'s database, passing over
/// connections the pool kept through a server restart (the pool drops each one found broken, so
/// one try per connection it may hold, and one more, reaches a working one if there is any).
/// `engine` names the database in the error when none works. (SQLite's pool has no server to
/// restart.)
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn begin_read_only<D: Dialect>(
    pool: &sqlx::Pool<D::Database>,
    statement: &str,
    engine: &str,
) -> Result<SqlTransaction<'static, D::Database>, ReadStoreError> {
    let mut last = None;
    for _ in 0..=pool.options().get_max_connections() {
        match pool.begin_with(statement.to_owned()).await {
            Ok(transaction) => return Ok(SqlTransaction::new::<D>(transaction)),
            Err(error) if D::classify(&error) == Failure::ConnectionLost => last = Some(error),
            Err(error) => return Err(D::read_store_error(error)),
        }
    }
    Err(last.map_or_else(
        || ReadStoreError::Unavailable(format!("no working {engine} connection").into()),
        D::read_store_error,
    ))
}

impl<'c, DB: sqlx::Database> SqlTransaction<'c, DB> {
    pub(crate) fn new<D: Dialect<Database = DB>>(transaction: sqlx::Transaction<'c, DB>) -> Self {
        Self {
            transaction,
            map_error: D::read_store_error,
        }
    }

    /// The sqlx transaction inside (for the portable store, which holds it in its [`Sql`]).
    ///
    /// [`Sql`]: crate::backend::portable::Sql
    #[allow(dead_code)] // used by the portable store, of any SQL feature but SQLite's alone
    pub(crate) fn into_inner(self) -> sqlx::Transaction<'c, DB> {
        self.transaction
    }
}

impl<DB: sqlx::Database> std::fmt::Debug for SqlTransaction<'_, DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTransaction").finish_non_exhaustive()
    }
}

impl<DB: sqlx::Database> ReadTransaction for SqlTransaction<'_, DB> {
    type Connection = DB::Connection;

    fn connection(&mut self) -> &mut Self::Connection {
        &mut self.transaction
    }

    async fn commit(self) -> Result<(), ReadStoreError> {
        self.transaction.commit().await.map_err(self.map_error)
    }

    async fn rollback(self) -> Result<(), ReadStoreError> {
        self.transaction.rollback().await.map_err(self.map_error)
    }
}

/// The statement named `name` in a `.sql` file: the text after its `-- name: <name>` line, up to
/// the next such line. Empty when missing (each backend's tests check that every name it uses
/// is there).
pub(crate) fn section<'f>(file: &'f str, name: &str) -> &'f str {
    let marker = format!("-- name: {name}\n");
    let Some(start) = file.find(&marker).map(|at| at + marker.len()) else {
        return "";
    };
    let rest = &file[start..];
    let end = rest.find("-- name: ").unwrap_or(rest.len());
    rest[..end].trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_of_a_sql_file() {
        let file = "-- a comment\n-- name: one\nSELECT 1;\n\n-- name: two\nSELECT\n  2\n";
        assert_eq!(section(file, "one"), "SELECT 1;");
        assert_eq!(section(file, "two"), "SELECT\n  2");
        assert_eq!(section(file, "three"), "");
    }
}
