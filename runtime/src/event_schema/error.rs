//! The gate's error: the lock file unreadable, or the code disagreeing with it.

use super::problem::{report, Problem};

/// Why the gate fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaGateError {
    /// The lock file could not be read or written.
    #[error("the event lock file `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The lock file is not one Chronicle wrote.
    #[error("the event lock file `{path}` cannot be read: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The code and the lock file disagree.
    #[error("{}", report(.path, .problems))]
    Problems {
        /// The file.
        path: String,
        /// Each disagreement, with how to resolve it.
        problems: Vec<Problem>,
    },
}
