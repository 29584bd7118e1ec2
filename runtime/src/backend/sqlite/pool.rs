//! Opening a SQLite database file, the same way for the event store and the read store.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// How long a writer waits for another one before giving up (and the store answering
/// `Unavailable`, or the runner retrying).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections of a file's pool: writers take turns anyway, but in WAL mode readers need not
/// wait for them.
pub(super) const MAX_CONNECTIONS: u32 = 4;

/// A pool on the database file at `path`, created if missing, in WAL mode, with the busy timeout.
pub(super) async fn open_file(path: impl AsRef<Path>) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(BUSY_TIMEOUT);
    SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
}
