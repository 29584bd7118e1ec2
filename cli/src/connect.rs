//! The stores a database URL names: the event log, and the read store's checkpoints beside it.

use std::path::PathBuf;

use chronicle::sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use chronicle::sqlx::{self, Connection as _, Row as _};
use chronicle::{
    CheckpointRow, EventSource, EventStore, Head, PostgresReadStore, PostgresStore, Progress, ReadStore as _,
    RecordedEvent, SqlReadStore, SqliteReadStore, SqliteStore, StoreError, Tenant,
};

use crate::error::CliError;

/// Connections an operator's command needs at most.
const POOL_SIZE: u32 = 4;
/// How long to wait for a server that does not answer (one that is down refuses at once).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A database as the command line names it: the event log's, with the read store beside it
/// unless `read` names another.
pub(crate) struct Target {
    log: Database,
    read: Option<ReadTarget>,
}

/// The engine and place of one database.
pub(crate) enum Database {
    Postgres { url: String, schema: String },
    Sqlite { path: PathBuf },
}

/// A read store in a database of its own (level 2).
pub(crate) enum ReadTarget {
    Sql(Database),
    MySql { url: String },
}

/// A SQLite file a URL names (`sqlite:<file>` or `sqlite://<file>`).
fn sqlite_path(url: &str, rest: &str) -> Result<PathBuf, CliError> {
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(CliError::Invalid(format!(
            "`{url}` names no database file: give one, as in sqlite:chronicle.db"
        )));
    }
    Ok(path.into())
}

impl Database {
    fn parse(url: &str, schema: &str) -> Result<Option<Self>, CliError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Some(Self::Postgres {
                url: url.to_owned(),
                schema: schema.to_owned(),
            }));
        }
        match url.strip_prefix("sqlite:") {
            Some(rest) => Ok(Some(Self::Sqlite {
                path: sqlite_path(url, rest)?,
            })),
            None => Ok(None),
        }
    }

    fn place(&self) -> String {
        match self {
            Self::Postgres { url, schema } => format!("{} (schema `{schema}`)", without_password(url)),
            Self::Sqlite { path } => format!("sqlite:{}", path.display()),
        }
    }

    /// A SQLite file that does not exist is an error unless `create`.
    fn check_file(&self, create: bool) -> Result<(), CliError> {
        match self {
            Self::Sqlite { path } if !create && !path.is_file() => Err(CliError::NoSuchFile {
                path: path.display().to_string(),
            }),
            _ => Ok(()),
        }
    }
}

impl ReadTarget {
    pub(crate) fn parse(url: &str, schema: &str) -> Result<Self, CliError> {
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            return Ok(Self::MySql { url: url.to_owned() });
        }
        match Database::parse(url, schema)? {
            Some(database) => Ok(Self::Sql(database)),
            None => Err(CliError::UnsupportedUrl {
                url: without_password(url),
            }),
        }
    }

    fn place(&self) -> String {
        match self {
            Self::Sql(database) => database.place(),
            Self::MySql { url } => without_password(url),
        }
    }

    async fn open(&self, create: bool) -> Result<SqlReadStore, CliError> {
        match self {
            Self::Sql(database) => {
                database.check_file(create)?;
                match database {
                    Database::Postgres { url, schema } => {
                        let pool = postgres_pool(url, &database.place()).await?;
                        Ok(PostgresReadStore::from_pool(pool).with_schema(schema)?.into())
                    }
                    Database::Sqlite { path } => Ok(SqliteReadStore::open(path).await?.into()),
                }
            }
            Self::MySql { url } => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                Ok(chronicle::MySqlReadStore::connect(&url).await?.into())
            }
        }
    }
}

/// A pool on the Postgres database at `url`, after one connection that gives the server's own
/// reason when it refuses (a pool would only say that it timed out).
async fn postgres_pool(url: &str, place: &str) -> Result<sqlx::PgPool, CliError> {
    let options: PgConnectOptions = url.parse().map_err(|error| unavailable(place, &error))?;
    let first = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
        .await
        .map_err(|_| {
            CliError::Invalid(format!(
                "cannot connect to {place}: no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|error| unavailable(place, &error))?;
    let _ = first.close().await;
    Ok(PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(options))
}

impl Target {
    pub(crate) fn parse(url: &str, schema: &str) -> Result<Self, CliError> {
        match Database::parse(url, schema)? {
            Some(log) => Ok(Self { log, read: None }),
            None => Err(CliError::UnsupportedUrl {
                url: without_password(url),
            }),
        }
    }

    /// The read store in a database of its own.
    pub(crate) fn with_read_store(self, read: ReadTarget) -> Self {
        Self {
            read: Some(read),
            ..self
        }
    }

    /// Where the tables are, for messages: the URL without its password, and the schema; and
    /// the read store's place when it is elsewhere.
    pub(crate) fn place(&self) -> String {
        match &self.read {
            None => self.log.place(),
            Some(read) => format!("{}, read store {}", self.log.place(), read.place()),
        }
    }

    /// What `migrate` would run, on the event log and on the read store, without connecting.
    pub(crate) fn migration_sql(&self) -> Result<[String; 2], CliError> {
        let [log, beside] = sql_of(&self.log)?;
        let read = match &self.read {
            None => beside,
            Some(ReadTarget::Sql(database)) => sql_of(database)?[1].clone(),
            Some(ReadTarget::MySql { .. }) => {
                "-- (a MariaDB read store's tables: `chronicle migrate` creates them; their SQL is not shown)"
                    .to_owned()
            }
        };
        Ok([log, read])
    }

    /// The event log's schema and the read store's, for the roles of least privilege: Postgres
    /// only, with the read store in the same database (its schema may differ).
    pub(crate) fn postgres_schemas(&self) -> Result<(String, String), CliError> {
        let refused = || {
            CliError::Invalid(
                "--roles sets up Postgres roles: give a postgres:// --database-url, the read store in the same \
                 database (the same URL, if you name it; --read-schema may name another schema)"
                    .to_owned(),
            )
        };
        let Database::Postgres { url, schema } = &self.log else {
            return Err(refused());
        };
        match &self.read {
            None => Ok((schema.clone(), schema.clone())),
            Some(ReadTarget::Sql(Database::Postgres {
                url: read_url,
                schema: read_schema,
            })) if read_url == url => Ok((schema.clone(), read_schema.clone())),
            Some(_) => Err(refused()),
        }
    }

    /// Opens the stores, creating a SQLite file if missing unless `existing`.
    async fn open_stores(&self, existing: bool) -> Result<Stores, CliError> {
        self.log.check_file(!existing)?;
        let place = self.place();
        let (log, beside): (Log, SqlReadStore) = match &self.log {
            Database::Postgres { url, schema } => {
                let pool = postgres_pool(url, &self.log.place()).await?;
                let read = PostgresReadStore::from_pool(pool.clone()).with_schema(schema)?;
                (
                    Log::Postgres(PostgresStore::from_pool(pool).with_schema(schema)?),
                    read.into(),
                )
            }
            Database::Sqlite { path } => (
                Log::Sqlite(SqliteStore::open(path).await?),
                SqliteReadStore::open(path).await?.into(),
            ),
        };
        let read = match &self.read {
            None => beside,
            Some(read) => read.open(!existing).await?,
        };
        let read_place = self
            .read
            .as_ref()
            .map_or_else(|| self.log.place(), ReadTarget::place);
        Ok(Stores {
            log,
            read,
            read_place,
            place,
        })
    }

    /// Opens the stores, creating a SQLite file if missing (for `migrate`).
    pub(crate) async fn open(&self) -> Result<Stores, CliError> {
        self.open_stores(false).await
    }

    /// Opens the stores of a log that exists: a missing SQLite file, or tables never migrated,
    /// are errors rather than an empty log.
    pub(crate) async fn open_existing(&self) -> Result<Stores, CliError> {
        let stores = self.open_stores(true).await?;
        if !stores.log.is_migrated().await? {
            return Err(CliError::NotMigrated { place: stores.place });
        }
        Ok(stores)
    }
}

/// The SQL `migrate` runs on a database's event log and on a read store in it.
fn sql_of(database: &Database) -> Result<[String; 2], CliError> {
    match database {
        Database::Postgres { url, schema } => {
            // A lazy pool parses the URL and connects at its first use, which never comes.
            let pool = PgPoolOptions::new()
                .connect_lazy(url)
                .map_err(|error| unavailable(&database.place(), &error))?;
            let log = PostgresStore::from_pool(pool.clone()).with_schema(schema)?;
            let read = PostgresReadStore::from_pool(pool).with_schema(schema)?;
            Ok([log.migration_sql(), read.migration_sql().to_owned()])
        }
        Database::Sqlite { .. } => Ok([
            SqliteStore::migration_sql(),
            SqliteReadStore::migration_sql().to_owned(),
        ]),
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
    /// Where the read store is, for messages.
    read_place: String,
    /// Where they are, for messages.
    pub(crate) place: String,
}

impl Stores {
    /// The same stores, the log bound to `tenant` (see [`EventStore::for_tenant`]).
    pub(crate) fn for_tenant(self, tenant: Tenant) -> Self {
        let log = match self.log {
            Log::Postgres(store) => Log::Postgres(store.for_tenant(tenant)),
            Log::Sqlite(store) => Log::Sqlite(store.for_tenant(tenant)),
        };
        Self { log, ..self }
    }

    /// Every checkpoint row of the read store. A log may have no read store beside it (its read
    /// models live elsewhere): then this says where it looked, and what to do.
    pub(crate) async fn checkpoints(&self) -> Result<Vec<(String, CheckpointRow)>, CliError> {
        self.read
            .checkpoints()
            .await
            .map_err(|error| CliError::NoReadStore {
                place: self.read_place.clone(),
                reason: error.to_string(),
            })
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
        let mut events = each!(self, |store| store.read_stream(stream, 0).await)?;
        self.mask(&mut events).await;
        Ok(events)
    }

    /// The log's own key table (every engine the tool knows keeps one).
    pub(crate) fn key_store(&self) -> Result<chronicle::SharedKeyStore, CliError> {
        each!(self, |store| store.key_store())
            .ok_or_else(|| CliError::Invalid("this event log keeps no key table".to_owned()))
    }

    /// Shows each `#[pii]` field of `events` as `[encrypted]`, or `[forgotten]` once its subject
    /// was forgotten: the tool has no application types, and decrypts nothing.
    pub(crate) async fn mask(&self, events: &mut [RecordedEvent]) {
        let keys = each!(self, |store| store.key_store());
        chronicle::mask_sealed(events, keys.as_deref()).await;
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
        let mut events = each!(self, |store| store.read_by_correlation(id).await)?;
        self.mask(&mut events).await;
        Ok(events)
    }

    /// Up to `limit` events after `after`, in the order subscribers read them.
    pub(crate) async fn read_batch(
        &self,
        after: chronicle::Checkpoint,
        limit: usize,
    ) -> Result<chronicle::Batch, StoreError> {
        let mut batch = each!(self, |store| store.read_batch(after, &[], limit).await)?;
        self.mask(&mut batch.events).await;
        Ok(batch)
    }

    /// Where the event at `position` is in the subscription order, if there is one there.
    pub(crate) async fn checkpoint_of(
        &self,
        position: u64,
    ) -> Result<Option<chronicle::Checkpoint>, StoreError> {
        each!(self, |store| store.checkpoint_of(position).await)
    }

    /// The tenant the log is bound to.
    pub(crate) fn tenant(&self) -> &Tenant {
        each!(self, |store| store.tenant())
    }

    /// The letters among `letters` whose events are the bound tenant's (all of them when it is
    /// bound to none).
    pub(crate) async fn letters_of_tenant(
        &self,
        letters: Vec<chronicle::DeadLetter>,
    ) -> Result<Vec<chronicle::DeadLetter>, StoreError> {
        if self.tenant().is_none() {
            return Ok(letters);
        }
        each!(self, |store| chronicle::dead_letters_of_tenant(
            store,
            letters,
            store.tenant()
        )
        .await)
    }

    /// The event at global `position`, if any (of the bound tenant, when it is bound to one).
    pub(crate) async fn event_at(&self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        let mut found = each!(self, |store| store.read_all(position.saturating_sub(1), 1).await)?;
        self.mask(&mut found).await;
        Ok(found.into_iter().find(|event| event.position == position))
    }

    /// Events of any type after `checkpoint` (what a projection of every type has not applied).
    pub(crate) async fn progress(&self, checkpoint: chronicle::Checkpoint) -> Result<Progress, StoreError> {
        each!(self, |store| store.progress(checkpoint, &[]).await)
    }

    /// Runs `sql` (several statements, one transaction) on a Postgres log's database.
    pub(crate) async fn run_sql(&self, sql: &str) -> Result<(), CliError> {
        match self {
            Log::Postgres(store) => sqlx::raw_sql(sql)
                .execute(store.pool())
                .await
                .map(drop)
                .map_err(|error| CliError::Invalid(format!("setting up the roles failed: {error}"))),
            Log::Sqlite(_) => Err(CliError::Invalid("SQLite has no roles".to_owned())),
        }
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
