//! What can go wrong, each said in one line.

use chronicle::{ReadStoreError, StoreError};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No database was named.
    #[error("no database: pass --database-url or set DATABASE_URL (postgres://... or sqlite:<file>)")]
    NoDatabase,
    /// A URL of no engine the tool knows.
    #[error("cannot use `{url}`: the URL must start with postgres://, postgresql:// or sqlite:")]
    UnsupportedUrl {
        /// The URL, without its password.
        url: String,
    },
    /// A SQLite file that does not exist (only `migrate` creates one).
    #[error("no database file at `{path}` (`chronicle migrate` creates one)")]
    NoSuchFile {
        /// The path.
        path: String,
    },
    /// The event log's tables are not there.
    #[error("no Chronicle event log in {place} (run `chronicle migrate`)")]
    NotMigrated {
        /// The database and schema.
        place: String,
    },
    /// No read store can be read where the tool looked for one.
    #[error(
        "no Chronicle read store in {place} ({reason}); run `chronicle migrate` there, or name the read \
         store's database with --read-database-url"
    )]
    NoReadStore {
        /// Where it looked.
        place: String,
        /// What the store said.
        reason: String,
    },
    /// A stream without events.
    #[error("no stream `{stream}` in the log")]
    NoSuchStream {
        /// The stream id asked for.
        stream: String,
    },
    /// A correlation id no event carries.
    #[error("no event carries the correlation id {correlation_id}")]
    NoSuchCorrelation {
        /// The id asked for.
        correlation_id: uuid::Uuid,
    },
    /// Input that is not what the command takes.
    #[error("{0}")]
    Invalid(String),
    /// The event store said no.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The read store said no.
    #[error("{0}")]
    ReadStore(#[from] ReadStoreError),
    /// The admin page could not start (its audit table), or its server failed.
    #[error("{0}")]
    Admin(#[from] chronicle_admin::AdminError),
    /// A projection's runner, or a rebuild, said no.
    #[error("{0}")]
    Projection(#[from] chronicle::ProjectionError),
    /// A replay said no.
    #[error("{0}")]
    Replay(#[from] chronicle::ReplayError),
    /// Writing the output failed (a closed pipe).
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// Encoding JSON output failed.
    #[error("cannot encode the output as JSON: {0}")]
    Json(#[from] serde_json::Error),
}
