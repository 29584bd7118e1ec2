//! `replay <projection> --into <place> --until-position N | --as-of TIME`: where a replay can
//! build a read model, for each kind of read store.

use chronicle::{BoxFuture, MySqlReadStore, PostgresReadStore, ReadStore, SqlReadStore, SqliteReadStore};

use crate::error::CliError;

/// A read store that can open another place of its kind for a replay to build a read model in.
pub trait ReplayTarget: ReadStore + Sized {
    /// The read store `into` names (see each implementation).
    fn replay_target<'a>(&'a self, into: &'a str) -> BoxFuture<'a, Result<Self, CliError>>;
}

/// Whether `into` is a URL rather than a schema or a file.
fn is_url(into: &str) -> bool {
    into.contains("://")
}

/// A Postgres schema of the same database (`--into replay_2026`), or a `postgres://` URL (its
/// `public` schema).
impl ReplayTarget for PostgresReadStore {
    fn replay_target<'a>(&'a self, into: &'a str) -> BoxFuture<'a, Result<Self, CliError>> {
        Box::pin(async move {
            if is_url(into) {
                return Ok(PostgresReadStore::connect(into).await?);
            }
            Ok(self.clone().with_schema(into)?)
        })
    }
}

/// A SQLite file (`--into replay.db` or `sqlite:replay.db`), created if missing.
impl ReplayTarget for SqliteReadStore {
    fn replay_target<'a>(&'a self, into: &'a str) -> BoxFuture<'a, Result<Self, CliError>> {
        Box::pin(async move {
            let path = into.strip_prefix("sqlite:").unwrap_or(into);
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(CliError::Invalid("--into names no file".to_owned()));
            }
            Ok(SqliteReadStore::open(path).await?)
        })
    }
}

/// The URL of a read store of any engine (`postgres://...`, `sqlite:<file>`, `mysql://...`), or
/// on Postgres a schema of the same database.
impl ReplayTarget for SqlReadStore {
    fn replay_target<'a>(&'a self, into: &'a str) -> BoxFuture<'a, Result<Self, CliError>> {
        Box::pin(async move {
            if is_url(into) || into.starts_with("sqlite:") {
                return Ok(SqlReadStore::connect(into).await?);
            }
            Ok(self.clone().with_schema(into)?)
        })
    }
}

/// The URL of a MariaDB database (`mysql://...`).
impl ReplayTarget for MySqlReadStore {
    fn replay_target<'a>(&'a self, into: &'a str) -> BoxFuture<'a, Result<Self, CliError>> {
        Box::pin(async move {
            if !is_url(into) {
                return Err(CliError::Invalid(format!(
                    "`{into}` is not a URL: a MariaDB replay goes into a database named by mysql://..."
                )));
            }
            Ok(MySqlReadStore::connect(into).await?)
        })
    }
}
