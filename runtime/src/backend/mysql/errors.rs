//! How MariaDB failures are sorted: the one list of error numbers every MariaDB store and
//! transaction of Chronicle goes by.
//!
//! MariaDB reports a SQLSTATE too, but it is coarse (`HY000` for most things); the error number
//! says what happened.

use sqlx::mysql::MySqlDatabaseError;

use crate::backend::sql::{Dialect, Failure};

/// The MariaDB (MySQL) dialect of the SQL backends.
pub(crate) struct MySql;

/// `ER_CON_COUNT_ERROR`: too many connections.
const TOO_MANY_CONNECTIONS: u16 = 1040;
/// `ER_SERVER_SHUTDOWN`: the server is shutting down.
const SERVER_SHUTDOWN: u16 = 1053;
/// `ER_TOO_MANY_USER_CONNECTIONS`: the user's connection limit.
const TOO_MANY_USER_CONNECTIONS: u16 = 1203;
/// `ER_LOCK_WAIT_TIMEOUT`: a row lock was not granted in `innodb_lock_wait_timeout`.
const LOCK_WAIT_TIMEOUT: u16 = 1205;
/// `ER_LOCK_DEADLOCK`: the transaction was chosen as a deadlock's victim and rolled back.
const DEADLOCK: u16 = 1213;
/// `ER_CONNECTION_KILLED` (MariaDB): an administrator or a timeout ended the session.
const CONNECTION_KILLED: u16 = 1927;
/// `CR_SERVER_GONE_ERROR`: the server went away.
const SERVER_GONE: u16 = 2006;
/// `CR_SERVER_LOST`: the connection was lost during a query.
const SERVER_LOST: u16 = 2013;
/// `ER_CLIENT_INTERACTION_TIMEOUT` (MariaDB 10.11 and MySQL 8): the session was idle too long.
const IDLE_TIMEOUT: u16 = 4031;

impl Dialect for MySql {
    type Database = sqlx::MySql;

    fn classify_database(error: &dyn sqlx::error::DatabaseError) -> Failure {
        let Some(error) = error.try_downcast_ref::<MySqlDatabaseError>() else {
            return Failure::Refused;
        };
        classify_number(error.number())
    }
}

/// What a MariaDB error number means.
fn classify_number(number: u16) -> Failure {
    match number {
        SERVER_SHUTDOWN | CONNECTION_KILLED | SERVER_GONE | SERVER_LOST | IDLE_TIMEOUT => {
            Failure::ConnectionLost
        }
        TOO_MANY_CONNECTIONS | TOO_MANY_USER_CONNECTIONS | LOCK_WAIT_TIMEOUT | DEADLOCK => Failure::Busy,
        _ => Failure::Refused,
    }
}

/// A driver failure as a read-store error.
pub(crate) fn read_store_error(error: sqlx::Error) -> crate::core::read_store::ReadStoreError {
    MySql::read_store_error(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_numbers() {
        for number in [1040, 1203, 1205, 1213] {
            assert_eq!(classify_number(number), Failure::Busy, "{number}");
        }
        for number in [1053, 1927, 2006, 2013, 4031] {
            assert_eq!(classify_number(number), Failure::ConnectionLost, "{number}");
        }
        // Duplicate key, a write in a read-only transaction, a syntax error.
        for number in [1062, 1792, 1064] {
            assert_eq!(classify_number(number), Failure::Refused, "{number}");
        }
    }

    #[test]
    fn pool_and_network_failures_are_transient() {
        assert_eq!(MySql::classify(&sqlx::Error::PoolTimedOut), Failure::Busy);
        assert_eq!(
            MySql::classify(&sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())),
            Failure::ConnectionLost
        );
        assert_eq!(MySql::classify(&sqlx::Error::RowNotFound), Failure::Refused);
    }
}
