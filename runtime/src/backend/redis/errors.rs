//! How Redis failures are sorted: the one list every part of the Redis read store goes by.

use ::redis::RedisError;

use crate::core::error::HandlerError;
use crate::core::read_store::ReadStoreError;

/// Server error codes that say "not now": retrying later may succeed.
const TRANSIENT_CODES: &[&str] = &[
    "TRYAGAIN",
    "BUSY",
    "LOADING",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "READONLY",
];

/// Whether `error` is a failure of the connection or of a server that cannot serve now.
pub(crate) fn is_transient(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.is_timeout()
        || error.code().is_some_and(|code| TRANSIENT_CODES.contains(&code))
}

/// A client failure as a read-store error.
pub(crate) fn read_store_error(error: RedisError) -> ReadStoreError {
    if is_transient(&error) {
        ReadStoreError::Unavailable(Box::new(error))
    } else {
        ReadStoreError::Database(Box::new(error))
    }
}

/// Whether a handler failed because of a transient Redis failure somewhere in its error's chain
/// of causes (a [`RedisError`], or a [`ReadStoreError::Unavailable`] of the store's own).
pub(crate) fn handler_error_is_transient(error: &HandlerError) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error.0.as_ref());
    while let Some(error) = current {
        if let Some(redis) = error.downcast_ref::<RedisError>() {
            if is_transient(redis) {
                return true;
            }
        }
        if let Some(store) = error.downcast_ref::<ReadStoreError>() {
            if store.is_transient() {
                return true;
            }
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::redis::ErrorKind;

    #[test]
    fn io_failures_are_transient_and_refusals_are_not() {
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(is_transient(&io));
        assert!(read_store_error(io).is_transient());
        let wrong = RedisError::from((ErrorKind::UnexpectedReturnType, "not a number"));
        assert!(!is_transient(&wrong));
        let handler = HandlerError::new(read_store_error(RedisError::from(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        ))));
        assert!(handler_error_is_transient(&handler));
        assert!(!handler_error_is_transient(&HandlerError::new("cursed")));
    }
}
