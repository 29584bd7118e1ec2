//! [`SqlReadStore`]: one read store type over Postgres, SQLite and MariaDB, chosen at run time.

use std::time::Duration;

use uuid::Uuid;

use super::connection::{Held, Link, Sql, SqlEngine, SqlRead, SqlSession, SqlWrite};
use crate::core::error::HandlerError;
use crate::core::location::Locations;
use crate::core::read_store::{
    CheckpointRow, ConsumerRow, DeadLetter, DeadLetters, ReadConnection, ReadStore, ReadStoreError,
};

#[cfg(feature = "mysql")]
use crate::backend::mysql::MySqlReadStore;
#[cfg(feature = "postgres")]
use crate::backend::postgres::PostgresReadStore;
#[cfg(feature = "sqlite")]
use crate::backend::sqlite::SqliteReadStore;

/// Read models on whichever SQL engine the application runs on, for projections written once
/// (their handlers take `&mut chronicle::Sql`): the embedded SQLite file in development,
/// Postgres in production, MariaDB for a reporting database, with the same code.
///
/// It is the engine's own store underneath ([`PostgresReadStore`](crate::PostgresReadStore),
/// [`SqliteReadStore`](crate::SqliteReadStore), [`MySqlReadStore`](crate::MySqlReadStore)), with
/// every guarantee it gives: the checkpoint moved, fenced, in the batch's transaction, one
/// active runner, queries in read-only transactions the database enforces. Make one with
/// [`connect`](Self::connect) from a URL, or `from` an engine's store (a Postgres store
/// [`beside`](crate::PostgresReadStore::beside) the event store, say).
///
/// Cloning is cheap: clones share the pools.
#[derive(Clone, Debug)]
pub struct SqlReadStore {
    engine: Engine,
}

#[derive(Clone, Debug)]
enum Engine {
    #[cfg(feature = "postgres")]
    Postgres(PostgresReadStore),
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteReadStore),
    #[cfg(feature = "mysql")]
    MySql(MySqlReadStore),
}

#[cfg(feature = "postgres")]
impl From<PostgresReadStore> for SqlReadStore {
    fn from(store: PostgresReadStore) -> Self {
        Self {
            engine: Engine::Postgres(store),
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<SqliteReadStore> for SqlReadStore {
    fn from(store: SqliteReadStore) -> Self {
        Self {
            engine: Engine::Sqlite(store),
        }
    }
}

#[cfg(feature = "mysql")]
impl From<MySqlReadStore> for SqlReadStore {
    fn from(store: MySqlReadStore) -> Self {
        Self {
            engine: Engine::MySql(store),
        }
    }
}

/// Runs `$body` with `$store` bound to the engine's store.
macro_rules! each_engine {
    ($self:expr, |$store:ident| $body:expr) => {
        match &$self.engine {
            #[cfg(feature = "postgres")]
            Engine::Postgres($store) => $body,
            #[cfg(feature = "sqlite")]
            Engine::Sqlite($store) => $body,
            #[cfg(feature = "mysql")]
            Engine::MySql($store) => $body,
        }
    };
}

/// Runs `$body` with `$store` bound to the engine's store and `$connection` to the engine's
/// connection inside `$sql`; a connection of another engine (which this store never hands out)
/// is an error, not a panic.
macro_rules! with_connection {
    ($self:expr, $sql:expr, |$store:ident, $connection:ident| $body:expr) => {
        match (&$self.engine, &mut $sql.link) {
            #[cfg(feature = "postgres")]
            (Engine::Postgres($store), Link::Postgres(held)) => {
                let $connection = held.connection();
                $body
            }
            #[cfg(feature = "sqlite")]
            (Engine::Sqlite($store), Link::Sqlite(held)) => {
                let $connection = held.connection();
                $body
            }
            #[cfg(feature = "mysql")]
            (Engine::MySql($store), Link::MySql(held)) => {
                let $connection = held.connection();
                $body
            }
            #[allow(unreachable_patterns)]
            _ => Err(ReadStoreError::Database(
                "a connection of another SQL engine was handed to this read store".into(),
            )),
        }
    };
}

impl SqlReadStore {
    /// Opens the store a URL names: `postgres://` (or `postgresql://`), `mysql://` (or
    /// `mariadb://`), `sqlite://<path>` (or `sqlite:<path>`); each needs its cargo feature.
    /// Chronicle's tables are not created: call [`migrate`](Self::migrate).
    pub async fn connect(url: &str) -> Result<Self, ReadStoreError> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => Ok(PostgresReadStore::connect(url).await?.into()),
            #[cfg(feature = "mysql")]
            "mysql" => Ok(MySqlReadStore::connect(url).await?.into()),
            #[cfg(feature = "mysql")]
            "mariadb" => Ok(
                MySqlReadStore::connect(&format!("mysql{}", &url["mariadb".len()..]))
                    .await?
                    .into(),
            ),
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                let rest = &url["sqlite:".len()..];
                let path = rest.strip_prefix("//").unwrap_or(rest);
                let path = path.split_once('?').map_or(path, |(path, _)| path);
                Ok(SqliteReadStore::open(path).await?.into())
            }
            _ => Err(ReadStoreError::UnsupportedUrl {
                scheme: scheme.chars().take(32).collect(),
                enabled: ENABLED_SCHEMES,
            }),
        }
    }

    /// A migrated store in a SQLite file of its own, deleted when the last clone is dropped: a
    /// portable projection's tests, without a database server (see
    /// [`ProjectionTest`](crate::testing::ProjectionTest)).
    #[cfg(feature = "sqlite")]
    pub async fn temporary() -> Result<Self, ReadStoreError> {
        Ok(SqliteReadStore::temporary().await?.into())
    }

    /// The read store of schema `schema` in the same Postgres database (to replay a read model
    /// beside the live one, say). Only Postgres has schemas: on another engine this is
    /// [`ReadStoreError::InvalidName`], saying so.
    pub fn with_schema(self, schema: &str) -> Result<Self, ReadStoreError> {
        match self.engine {
            #[cfg(feature = "postgres")]
            Engine::Postgres(store) => Ok(store.with_schema(schema)?.into()),
            #[allow(unreachable_patterns)]
            _ => Err(ReadStoreError::InvalidName {
                kind: "schema",
                name: schema.to_owned(),
                rule: "only a Postgres read store has schemas: name another database by its URL",
            }),
        }
    }

    /// The engine the store runs on.
    pub fn engine(&self) -> SqlEngine {
        each_engine!(self, |store| engine_of(store))
    }

    /// Creates Chronicle's tables if missing (the engine's store's `migrate`).
    pub async fn migrate(&self) -> Result<(), ReadStoreError> {
        each_engine!(self, |store| ReadStore::migrate(store).await)
    }
}

/// The URL schemes this build opens.
const ENABLED_SCHEMES: &[&str] = &[
    #[cfg(feature = "postgres")]
    "postgres://",
    #[cfg(feature = "mysql")]
    "mysql://",
    #[cfg(feature = "mysql")]
    "mariadb://",
    #[cfg(feature = "sqlite")]
    "sqlite:",
];

/// Which engine an engine's store is (for [`SqlReadStore::engine`]).
trait EngineOf {
    const ENGINE: SqlEngine;
}

#[cfg(feature = "postgres")]
impl EngineOf for PostgresReadStore {
    const ENGINE: SqlEngine = SqlEngine::Postgres;
}

#[cfg(feature = "sqlite")]
impl EngineOf for SqliteReadStore {
    const ENGINE: SqlEngine = SqlEngine::Sqlite;
}

#[cfg(feature = "mysql")]
impl EngineOf for MySqlReadStore {
    const ENGINE: SqlEngine = SqlEngine::MySql;
}

fn engine_of<S: EngineOf>(_: &S) -> SqlEngine {
    S::ENGINE
}

/// Wraps an engine's connection as the [`Sql`] of a runner's session.
macro_rules! session {
    ($store:ident, $variant:ident) => {
        Ok(SqlSession {
            sql: Sql {
                link: Link::$variant(Held::Session(ReadStore::connect($store).await?)),
            },
        })
    };
}

impl ReadStore for SqlReadStore {
    type Connection = Sql;
    type Session = SqlSession;
    type Transaction<'s> = SqlWrite<'s>;
    type ReadOnly = SqlRead;

    async fn migrate(&self) -> Result<(), ReadStoreError> {
        SqlReadStore::migrate(self).await
    }

    async fn connect(&self) -> Result<SqlSession, ReadStoreError> {
        match &self.engine {
            #[cfg(feature = "postgres")]
            Engine::Postgres(store) => session!(store, Postgres),
            #[cfg(feature = "sqlite")]
            Engine::Sqlite(store) => session!(store, Sqlite),
            #[cfg(feature = "mysql")]
            Engine::MySql(store) => session!(store, MySql),
        }
    }

    async fn close(session: SqlSession) {
        match session.sql.link {
            #[cfg(feature = "postgres")]
            Link::Postgres(Held::Session(connection)) => PostgresReadStore::close(connection).await,
            #[cfg(feature = "sqlite")]
            Link::Sqlite(Held::Session(connection)) => SqliteReadStore::close(connection).await,
            #[cfg(feature = "mysql")]
            Link::MySql(Held::Session(connection)) => MySqlReadStore::close(connection).await,
            // A session always holds a connection of its own (see `connect`).
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    async fn begin(session: &mut SqlSession) -> Result<SqlWrite<'_>, ReadStoreError> {
        SqlWrite::begin(session).await
    }

    async fn begin_read_only(&self) -> Result<SqlRead, ReadStoreError> {
        let link = match &self.engine {
            #[cfg(feature = "postgres")]
            Engine::Postgres(store) => {
                Link::Postgres(Held::Query(store.begin_read_only().await?.into_inner()))
            }
            #[cfg(feature = "sqlite")]
            Engine::Sqlite(store) => Link::Sqlite(Held::Query(store.begin_read_only().await?.into_inner())),
            #[cfg(feature = "mysql")]
            Engine::MySql(store) => Link::MySql(Held::Query(store.begin_read_only().await?.into_inner())),
        };
        Ok(SqlRead { sql: Sql { link } })
    }

    async fn try_lead<'a>(
        &'a self,
        session: &'a mut SqlSession,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> Result<bool, ReadStoreError> {
        with_connection!(self, session.sql, |store, connection| {
            store.try_lead(connection, projection, owner, lease).await
        })
    }

    async fn keep_lead<'a>(
        &'a self,
        session: &'a mut SqlSession,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> Result<bool, ReadStoreError> {
        with_connection!(self, session.sql, |store, connection| {
            store.keep_lead(connection, projection, owner, lease).await
        })
    }

    async fn release_lead<'a>(
        &'a self,
        session: &'a mut SqlSession,
        projection: &'a str,
        owner: Uuid,
    ) -> Result<(), ReadStoreError> {
        with_connection!(self, session.sql, |store, connection| {
            store.release_lead(connection, projection, owner).await
        })
    }

    async fn load_checkpoint<'a>(
        &'a self,
        session: &'a mut SqlSession,
        projection: &'a str,
    ) -> Result<Option<CheckpointRow>, ReadStoreError> {
        with_connection!(self, session.sql, |store, connection| {
            store.load_checkpoint(connection, projection).await
        })
    }

    async fn read_checkpoint<'a>(
        &'a self,
        projection: &'a str,
    ) -> Result<Option<CheckpointRow>, ReadStoreError> {
        each_engine!(self, |store| store.read_checkpoint(projection).await)
    }

    async fn checkpoints(&self) -> Result<Vec<(String, CheckpointRow)>, ReadStoreError> {
        each_engine!(self, |store| store.checkpoints().await)
    }

    async fn holder<'a>(&'a self, projection: &'a str) -> Result<Option<String>, ReadStoreError> {
        each_engine!(self, |store| store.holder(projection).await)
    }

    async fn save_checkpoint<'a>(
        &'a self,
        connection: &'a mut Sql,
        projection: &'a str,
        previous: Option<CheckpointRow>,
        next: CheckpointRow,
    ) -> Result<bool, ReadStoreError> {
        with_connection!(self, connection, |store, connection| {
            store
                .save_checkpoint(connection, projection, previous, next)
                .await
        })
    }

    async fn record_dead_letter<'a>(
        &'a self,
        connection: &'a mut Sql,
        letter: &'a DeadLetter,
    ) -> Result<(), ReadStoreError> {
        with_connection!(self, connection, |store, connection| {
            store.record_dead_letter(connection, letter).await
        })
    }

    async fn delete_dead_letters<'a>(
        &'a self,
        connection: &'a mut Sql,
        projection: &'a str,
        which: DeadLetters<'a>,
    ) -> Result<(), ReadStoreError> {
        with_connection!(self, connection, |store, connection| {
            store.delete_dead_letters(connection, projection, which).await
        })
    }

    async fn request_retry<'a>(
        &'a self,
        projection: &'a str,
        version: u32,
        position: u64,
    ) -> Result<bool, ReadStoreError> {
        each_engine!(self, |store| store
            .request_retry(projection, version, position)
            .await)
    }

    async fn dead_letters<'a>(
        &'a self,
        projection: &'a str,
        version: u32,
    ) -> Result<Vec<DeadLetter>, ReadStoreError> {
        each_engine!(self, |store| store.dead_letters(projection, version).await)
    }

    async fn load_consumer<'a>(
        &'a self,
        session: &'a mut SqlSession,
        consumer: &'a str,
    ) -> Result<Option<ConsumerRow>, ReadStoreError> {
        with_connection!(self, session.sql, |store, connection| {
            store.load_consumer(connection, consumer).await
        })
    }

    async fn read_consumer<'a>(&'a self, consumer: &'a str) -> Result<Option<ConsumerRow>, ReadStoreError> {
        each_engine!(self, |store| store.read_consumer(consumer).await)
    }

    async fn save_consumer<'a>(
        &'a self,
        connection: &'a mut Sql,
        consumer: &'a str,
        previous: Option<ConsumerRow>,
        next: ConsumerRow,
    ) -> Result<bool, ReadStoreError> {
        with_connection!(self, connection, |store, connection| {
            store.save_consumer(connection, consumer, previous, next).await
        })
    }

    async fn consumed_version<'a>(
        &'a self,
        connection: &'a mut Sql,
        consumer: &'a str,
        stream_id: &'a str,
    ) -> Result<Option<u64>, ReadStoreError> {
        with_connection!(self, connection, |store, connection| {
            store.consumed_version(connection, consumer, stream_id).await
        })
    }

    async fn read_consumed_version<'a>(
        &'a self,
        consumer: &'a str,
        stream_id: &'a str,
    ) -> Result<Option<u64>, ReadStoreError> {
        each_engine!(self, |store| store
            .read_consumed_version(consumer, stream_id)
            .await)
    }

    async fn save_consumed_version<'a>(
        &'a self,
        connection: &'a mut Sql,
        consumer: &'a str,
        stream_id: &'a str,
        version: u64,
    ) -> Result<(), ReadStoreError> {
        with_connection!(self, connection, |store, connection| {
            store
                .save_consumed_version(connection, consumer, stream_id, version)
                .await
        })
    }

    async fn forget_consumed<'a>(
        &'a self,
        connection: &'a mut Sql,
        consumer: &'a str,
    ) -> Result<(), ReadStoreError> {
        with_connection!(self, connection, |store, connection| {
            store.forget_consumed(connection, consumer).await
        })
    }

    fn is_transient(error: &HandlerError) -> bool {
        // Each engine's classification only knows its own error codes; a handler's error names
        // the engine it came from, so the first that recognizes it as transient settles it.
        #[cfg(feature = "postgres")]
        if PostgresReadStore::is_transient(error) {
            return true;
        }
        #[cfg(feature = "sqlite")]
        if SqliteReadStore::is_transient(error) {
            return true;
        }
        #[cfg(feature = "mysql")]
        if MySqlReadStore::is_transient(error) {
            return true;
        }
        false
    }
}

/// A location is the engine's own: a schema, a file or a database of its own.
impl Locations for SqlReadStore {
    async fn at_location<'a>(&'a self, projection: &'a str, version: u32) -> Result<Self, ReadStoreError> {
        each_engine!(self, |store| Ok(store
            .at_location(projection, version)
            .await?
            .into()))
    }

    async fn drop_location<'a>(&'a self, projection: &'a str, version: u32) -> Result<(), ReadStoreError> {
        each_engine!(self, |store| store.drop_location(projection, version).await)
    }

    async fn delete_checkpoint<'a>(&'a self, name: &'a str) -> Result<bool, ReadStoreError> {
        each_engine!(self, |store| store.delete_checkpoint(name).await)
    }
}

impl ReadConnection for Sql {
    type Store = SqlReadStore;
}
