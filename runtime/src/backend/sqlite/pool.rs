//! Opening a SQLite database file, the same way for the event store and the read store.

use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// How long a writer waits for another one before giving up (and the store answering
/// `Unavailable`, or the runner retrying).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections of a file's pool: writers take turns anyway, but in WAL mode readers need not
/// wait for them.
pub(super) const MAX_CONNECTIONS: u32 = 4;

/// A pool on the database file at `path`, created if missing, in WAL mode, with the busy timeout.
///
/// The first connection turns a new file to WAL, which needs the file to itself. When another
/// process or pool opens the same new file at that moment (a blue/green location opened by its
/// runner and by a status read), SQLite may answer `SQLITE_BUSY` at once instead of waiting, to
/// avoid a deadlock; the answer to that is to try again, so opening does, until the busy timeout.
/// Once the file is in WAL mode (which it keeps), connections no longer contend to open it.
pub(super) async fn open_file(path: impl AsRef<Path>) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(BUSY_TIMEOUT);
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let error = match open_in_wal_mode(&options).await {
            Ok(Some(pool)) => return Ok(pool),
            Ok(None) => sqlx::Error::Io(std::io::Error::new(
                ErrorKind::WouldBlock,
                "the database file could not be switched to WAL mode: another connection holds it",
            )),
            Err(error) if is_busy(&error) => error,
            Err(error) => return Err(error),
        };
        if started.elapsed() >= BUSY_TIMEOUT {
            return Err(error);
        }
        tracing::debug!(%error, "the database file is busy being opened elsewhere; trying again");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// A pool whose file is in WAL mode, or `None` when the file stayed in another mode: SQLite
/// answers a `journal_mode` it could not switch to with the mode it kept, not with an error.
async fn open_in_wal_mode(options: &SqliteConnectOptions) -> Result<Option<SqlitePool>, sqlx::Error> {
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options.clone())
        .await?;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await?;
    if mode.eq_ignore_ascii_case("wal") {
        return Ok(Some(pool));
    }
    pool.close().await;
    Ok(None)
}

/// Whether SQLite answered `SQLITE_BUSY` (any of its extended codes).
fn is_busy(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(database) => database
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 5),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    /// Many pools opening one new file at once (and each writing to it at once, as migrations
    /// do): every one of them opens, none is refused as busy, on every try.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pools_opening_one_new_file_at_once_all_open() {
        let dir = std::env::temp_dir().join(format!("chronicle-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for attempt in 0..20 {
            let path = dir.join(format!("new-{attempt}.db"));
            let opens = (0..8).map(|_| {
                let path = path.clone();
                tokio::spawn(async move {
                    let store = crate::backend::sqlite::read_store::SqliteReadStore::open(&path).await?;
                    store.migrate().await?;
                    crate::core::read_store::ReadStore::checkpoints(&store).await?;
                    store.pool().close().await;
                    Ok::<_, crate::core::read_store::ReadStoreError>(())
                })
            });
            for open in futures_util::future::join_all(opens).await {
                open.unwrap()
                    .unwrap_or_else(|error| panic!("try {attempt}: {error}"));
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
