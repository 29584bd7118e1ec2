//! How Postgres failures are sorted: the one list of SQLSTATE codes that every Postgres store,
//! connection and transaction of Chronicle goes by.

use crate::backend::sql::{Dialect, Failure};

/// The Postgres dialect of the SQL backends.
pub(crate) struct Postgres;

impl Dialect for Postgres {
    type Database = sqlx::Postgres;

    fn classify_database(error: &dyn sqlx::error::DatabaseError) -> Failure {
        // Another engine's error (a portable store's handler) is not Postgres's to sort.
        if error
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_none()
        {
            return Failure::Refused;
        }
        let Some(code) = error.code() else {
            return Failure::Refused;
        };
        match code.as_ref() {
            // Class 08: connection exception. 57P01-57P03: the server is shutting down, was
            // restarted, or cannot connect now; an administrator ending the session is 57P01.
            code if code.starts_with("08") || code.starts_with("57P0") => Failure::ConnectionLost,
            // Too many connections; a serialization failure or deadlock, after which the
            // transaction may simply be tried again.
            "53300" | "40001" | "40P01" => Failure::Busy,
            _ => Failure::Refused,
        }
    }
}

/// A driver failure as an event-store error.
pub(crate) fn store_error(error: sqlx::Error) -> crate::core::error::StoreError {
    Postgres::store_error(error)
}

/// A driver failure as a read-store error.
pub(crate) fn read_store_error(error: sqlx::Error) -> crate::core::read_store::ReadStoreError {
    Postgres::read_store_error(error)
}

/// Whether a connection is still usable after a statement ended with `outcome`: only an answer
/// from the database about the statement proves it (a network error, a decoding failure halfway
/// through the rows or a cancelled call leaves it in an unknown state).
pub(crate) fn connection_survives<T>(outcome: &Result<T, sqlx::Error>) -> bool {
    match outcome {
        Ok(_) | Err(sqlx::Error::RowNotFound) => true,
        Err(error @ sqlx::Error::Database(_)) => Postgres::classify(error) != Failure::ConnectionLost,
        Err(_) => false,
    }
}

/// The unique constraint a duplicate-key error violated (SQLSTATE 23505), if that is what it is.
pub(crate) fn violated_unique(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(database) if database.code().as_deref() == Some("23505") => {
            database.constraint()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_network_failures_are_transient() {
        assert_eq!(Postgres::classify(&sqlx::Error::PoolTimedOut), Failure::Busy);
        assert_eq!(
            Postgres::classify(&sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())),
            Failure::ConnectionLost
        );
        assert_eq!(Postgres::classify(&sqlx::Error::RowNotFound), Failure::Refused);
    }
}
