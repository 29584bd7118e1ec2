//! The stores a database URL names: the event log, and the read store's checkpoints beside it.

use std::path::PathBuf;

use chronicle::sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use chronicle::sqlx::{self, Connection as _, Row as _};
use chronicle::{
    EventSource, EventStore, Head, PostgresReadStore, PostgresStore, Progress, RecordedEvent, SqlReadStore,
    SqliteReadStore, SqliteStore, StoreError,
};

use crate::error::CliError;

/// Connections an operator's command needs at most.
const POOL_SIZE: u32 = 4;
/// How long to wait for a server that does not answer (one that is down refuses at once).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A database as the command line names it.
pub(crate) enum Target {
    Postgres { url: String, schema: String },
    Sqlite { path: PathBuf },
}

impl Target {
    pub(crate) fn parse(url: &str, schema: &str) -> Result<Self, CliError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres {
                url: url.to_owned(),
                schema: schema.to_owned(),
            });
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(CliError::Invalid(format!(
                    "`{url}` names no database file: give one, as in sqlite:chronicle.db"
                )));
            }
            return Ok(Self::Sqlite { path: path.into() });
        }
        Err(CliError::UnsupportedUrl {
            url: without_password(url),
        })
    }

    /// Where the tables are, for messages: the URL without its password, and the schema.
    pub(crate) fn place(&self) -> String {
        match self {
            Self::Postgres { url, schema } => format!("{} (schema `{schema}`)", without_password(url)),
            Self::Sqlite { path } => format!("sqlite:{}", path.display()),
        }
    }

    /// What `migrate` would run, on the event log and on the read store, without connecting.
    pub(crate) fn migration_sql(&self) -> Result<[String; 2], CliError> {
        match self {
            Self::Postgres { url, schema } => {
                // A lazy pool parses the URL and connects at its first use, which never comes.
                let pool = PgPoolOptions::new()
                    .connect_lazy(url)
                    .map_err(|error| unavailable(&self.place(), &error))?;
                let log = PostgresStore::from_pool(pool.clone()).with_schema(schema)?;
                let read = PostgresReadStore::from_pool(pool).with_schema(schema)?;
                Ok([log.migration_sql().to_owned(), read.migration_sql().to_owned()])
            }
            Self::Sqlite { .. } => Ok([
                SqliteStore::migration_sql().to_owned(),
                SqliteReadStore::migration_sql().to_owned(),
            ]),
        }
    }

    /// Opens the stores, creating a SQLite file if missing (for `migrate`).
    pub(crate) async fn open(&self) -> Result<Stores, CliError> {
        let place = self.place();
        match self {
            Self::Postgres { url, schema } => {
                let options: PgConnectOptions = url.parse().map_err(|error| unavailable(&place, &error))?;
                // One connection first, for the server's own reason when it refuses (a pool
                // would only say that it timed out).
                let first = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
                    .await
                    .map_err(|_| {
                        CliError::Invalid(format!(
                            "cannot connect to {place}: no answer within {} s",
                            CONNECT_TIMEOUT.as_secs()
                        ))
                    })?
                    .map_err(|error| unavailable(&place, &error))?;
                let _ = first.close().await;
                let pool = PgPoolOptions::new()
                    .max_connections(POOL_SIZE)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_lazy_with(options);
                let read = PostgresReadStore::from_pool(pool.clone()).with_schema(schema)?;
                Ok(EngineStores {
                    log: Log::Postgres(PostgresStore::from_pool(pool).with_schema(schema)?),
                    read,
                    place,
                }
                .into())
            }
            Self::Sqlite { path } => {
                let read = SqliteReadStore::open(path).await?;
                Ok(EngineStores {
                    log: Log::Sqlite(SqliteStore::open(path).await?),
                    read,
                    place,
                }
                .into())
            }
        }
    }

    /// Opens the stores of a log that exists: a missing SQLite file, or tables never migrated,
    /// are errors rather than an empty log.
    pub(crate) async fn open_existing(&self) -> Result<Stores, CliError> {
        if let Self::Sqlite { path } = self {
            if !path.is_file() {
                return Err(CliError::NoSuchFile {
                    path: path.display().to_string(),
                });
            }
        }
        let stores = self.open().await?;
        if !stores.log.is_migrated().await? {
            return Err(CliError::NotMigrated { place: stores.place });
        }
        Ok(stores)
    }
}

/// `Postgres at <place> is unavailable: ...`, in one line.
fn unavailable(place: &str, error: &sqlx::Error) -> CliError {
    CliError::Invalid(format!("cannot connect to {place}: {error}"))
}

/// `url` with the password replaced by `***`.
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// The event log and the read store of one database.
pub(crate) struct Stores {
    pub(crate) log: Log,
    pub(crate) read: SqlReadStore,
    /// Where they are, for messages.
    pub(crate) place: String,
}

/// Stores of one engine, before they are held as one type.
struct EngineStores<R> {
    log: Log,
    read: R,
    place: String,
}

impl<R: Into<SqlReadStore>> From<EngineStores<R>> for Stores {
    fn from(stores: EngineStores<R>) -> Self {
        Self {
            log: stores.log,
            read: stores.read.into(),
            place: stores.place,
        }
    }
}

/// An event log of any engine the tool knows.
pub(crate) enum Log {
    Postgres(PostgresStore),
    Sqlite(SqliteStore),
}

/// Runs `$body` with `$store` bound to the log's engine store.
macro_rules! each {
    ($log:expr, |$store:ident| $body:expr) => {
        match $log {
            Log::Postgres($store) => $body,
            Log::Sqlite($store) => $body,
        }
    };
}

impl Log {
    pub(crate) async fn head(&self) -> Result<Head, StoreError> {
        each!(self, |store| store.head().await)
    }

    pub(crate) async fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        each!(self, |store| store.read_stream(stream, 0).await)
    }

    pub(crate) async fn list_streams(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<chronicle::StreamSummary>, StoreError> {
        each!(self, |store| store.list_streams(prefix, after, limit).await)
    }

    pub(crate) async fn read_by_correlation(&self, id: uuid::Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        each!(self, |store| store.read_by_correlation(id).await)
    }

    /// Up to `limit` events after `after`, in the order subscribers read them.
    pub(crate) async fn read_batch(
        &self,
        after: chronicle::Checkpoint,
        limit: usize,
    ) -> Result<chronicle::Batch, StoreError> {
        each!(self, |store| store.read_batch(after, &[], limit).await)
    }

    /// Where the event at `position` is in the subscription order, if there is one there.
    pub(crate) async fn checkpoint_of(
        &self,
        position: u64,
    ) -> Result<Option<chronicle::Checkpoint>, StoreError> {
        each!(self, |store| store.checkpoint_of(position).await)
    }

    /// The event at global `position`, if any.
    pub(crate) async fn event_at(&self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        let found = each!(self, |store| store.read_all(position.saturating_sub(1), 1).await)?;
        Ok(found.into_iter().find(|event| event.position == position))
    }

    /// Events of any type after `checkpoint` (what a projection of every type has not applied).
    pub(crate) async fn progress(&self, checkpoint: chronicle::Checkpoint) -> Result<Progress, StoreError> {
        each!(self, |store| store.progress(checkpoint, &[]).await)
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        each!(self, |store| store.migrate().await)
    }

    /// Whether the event table is there.
    async fn is_migrated(&self) -> Result<bool, CliError> {
        let found = match self {
            Log::Postgres(store) => sqlx::query("SELECT to_regclass($1) IS NOT NULL AS found")
                .bind(format!("\"{}\".chronicle_events", store.schema()))
                .fetch_one(store.pool())
                .await
                .and_then(|row| row.try_get::<bool, _>("found")),
            Log::Sqlite(store) => sqlx::query(
                "SELECT COUNT(*) > 0 AS found FROM sqlite_master WHERE type = 'table' AND name = 'chronicle_events'",
            )
            .fetch_one(store.pool())
            .await
            .and_then(|row| row.try_get::<bool, _>("found")),
        };
        found.map_err(|error| CliError::Invalid(format!("cannot read the catalog: {error}")))
    }
}
