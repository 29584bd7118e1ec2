//! How SQLite failures are sorted: the one list of result codes every SQLite store of Chronicle
//! goes by.

use crate::backend::sql::{Dialect, Failure};

/// The SQLite dialect of the SQL backends.
pub(crate) struct Sqlite;

impl Dialect for Sqlite {
    type Database = sqlx::Sqlite;

    fn classify_database(error: &dyn sqlx::error::DatabaseError) -> Failure {
        // Another engine's error (a portable store's handler) is not SQLite's to sort.
        if error.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_none() {
            return Failure::Refused;
        }
        // SQLite reports extended result codes; the primary code is the low byte.
        let primary = error
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .map(|code| code & 0xff);
        match primary {
            // BUSY: the busy timeout ran out; LOCKED: a table is locked by this connection's
            // other statement; CANTOPEN: the file cannot be opened (now).
            Some(5 | 6 | 14) => Failure::Busy,
            _ => Failure::Refused,
        }
    }
}

/// A driver failure as an event-store error.
pub(crate) fn store_error(error: sqlx::Error) -> crate::core::error::StoreError {
    Sqlite::store_error(error)
}

/// A driver failure as a read-store error.
pub(crate) fn read_store_error(error: sqlx::Error) -> crate::core::read_store::ReadStoreError {
    Sqlite::read_store_error(error)
}

/// Whether a failure is a unique constraint violation (`SQLITE_CONSTRAINT_UNIQUE`, or
/// `SQLITE_CONSTRAINT_PRIMARYKEY`).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(database) => matches!(database.code().as_deref(), Some("2067" | "1555")),
        _ => false,
    }
}
