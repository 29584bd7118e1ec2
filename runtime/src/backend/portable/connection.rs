//! [`Sql`]: the connection a portable projection's handlers and queries are handed, on whichever
//! engine the store runs, and the transactions around it.

use std::borrow::Cow;

use sqlx::{Arguments as _, Database, TransactionManager as _};

use super::statement::{SqlStatement, SqlValue};
use crate::core::future::BoxFuture;
use crate::core::query::{sealed::Sealed, Fetch, ReadOnly};
use crate::core::read_store::{ReadStoreError, ReadTransaction};

/// The SQL engine a [`SqlReadStore`](super::SqlReadStore) runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlEngine {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
    /// MariaDB (or MySQL).
    MySql,
}

/// What a connection is held as: a runner's own session (its transactions begun and ended on
/// it), or a query's pooled transaction.
pub(super) enum Held<DB: Database> {
    Session(DB::Connection),
    Query(sqlx::Transaction<'static, DB>),
}

impl<DB: Database> Held<DB> {
    pub(super) fn connection(&mut self) -> &mut DB::Connection {
        match self {
            Held::Session(connection) => connection,
            Held::Query(transaction) => transaction,
        }
    }
}

/// The engine's connection behind a [`Sql`].
pub(super) enum Link {
    #[cfg(feature = "postgres")]
    Postgres(Held<sqlx::Postgres>),
    #[cfg(feature = "sqlite")]
    Sqlite(Held<sqlx::Sqlite>),
    #[cfg(feature = "mysql")]
    MySql(Held<sqlx::MySql>),
}

/// The connection a portable projection's handlers write with, and (as
/// [`ReadOnly<'_, Sql>`](crate::ReadOnly)) its queries read with, whatever engine the
/// [`SqlReadStore`](super::SqlReadStore) runs on: a handler taking `&mut Sql` makes the
/// projection's store a `SqlReadStore`.
///
/// Statements are [`sql`](super::sql) and [`sql_as`](super::sql_as), with `$n` placeholders.
/// Where one engine deserves SQL of its own, [`postgres`](Self::postgres),
/// [`sqlite`](Self::sqlite) and [`mysql`](Self::mysql) hand out the driver's connection, inside
/// the same transaction, when the store runs on that engine.
pub struct Sql {
    pub(super) link: Link,
}

impl std::fmt::Debug for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql").field("engine", &self.engine()).finish()
    }
}

/// A statement's values as `DB`'s arguments.
fn arguments<'q, DB: Database>(
    values: impl IntoIterator<Item = SqlValue>,
) -> Result<DB::Arguments<'q>, sqlx::Error>
where
    Option<bool>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i32>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<f64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<uuid::Uuid>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<chrono::DateTime<chrono::Utc>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut arguments = DB::Arguments::default();
    for value in values {
        match value {
            SqlValue::Bool(v) => arguments.add(v),
            SqlValue::I32(v) => arguments.add(v),
            SqlValue::I64(v) => arguments.add(v),
            SqlValue::F64(v) => arguments.add(v),
            SqlValue::Text(v) => arguments.add(v),
            SqlValue::Bytes(v) => arguments.add(v),
            SqlValue::Uuid(v) => arguments.add(v),
            SqlValue::Timestamp(v) => arguments.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(arguments)
}

/// The text and arguments `statement` becomes on `DB`.
macro_rules! prepared {
    (numbered, $db:ty, $statement:expr) => {{
        let SqlStatement { text, values, .. } = $statement;
        (Cow::Owned(text), arguments::<$db>(values))
    }};
    // SQLite would read a placeholder without a value as NULL: refuse it, as Postgres does.
    (checked, $db:ty, $statement:expr) => {{
        let SqlStatement { text, values, .. } = $statement;
        match super::statement::placeholders(&text, values.len(), super::statement::Quoting::Standard) {
            Ok(_) => (Cow::Owned(text), arguments::<$db>(values)),
            Err(problem) => (Cow::Owned(text), Err(sqlx::Error::Encode(problem.into()))),
        }
    }};
    (question_marks, $db:ty, $statement:expr) => {{
        let SqlStatement { text, values, .. } = $statement;
        match super::statement::question_marks(&text, values.len()) {
            Ok((text, order)) => (
                Cow::Owned(text),
                arguments::<$db>(order.into_iter().map(|index| values[index].clone())),
            ),
            Err(problem) => (Cow::Owned(text), Err(sqlx::Error::Encode(problem.into()))),
        }
    }};
}

/// Runs `$run` with `$connection` bound to the engine's connection and `$query` to the engine's
/// form of `$statement`.
macro_rules! on_engine {
    ($sql:expr, $statement:expr, |$connection:ident, $text:ident, $args:ident| $run:expr) => {
        match &mut $sql.link {
            #[cfg(feature = "postgres")]
            Link::Postgres(held) => {
                let $connection = held.connection();
                let ($text, $args) = prepared!(numbered, sqlx::Postgres, $statement);
                $run
            }
            #[cfg(feature = "sqlite")]
            Link::Sqlite(held) => {
                let $connection = held.connection();
                let ($text, $args) = prepared!(checked, sqlx::Sqlite, $statement);
                $run
            }
            #[cfg(feature = "mysql")]
            Link::MySql(held) => {
                let $connection = held.connection();
                let ($text, $args) = prepared!(question_marks, sqlx::MySql, $statement);
                $run
            }
        }
    };
}

impl Sql {
    /// The engine this connection is on.
    pub fn engine(&self) -> SqlEngine {
        match &self.link {
            #[cfg(feature = "postgres")]
            Link::Postgres(_) => SqlEngine::Postgres,
            #[cfg(feature = "sqlite")]
            Link::Sqlite(_) => SqlEngine::Sqlite,
            #[cfg(feature = "mysql")]
            Link::MySql(_) => SqlEngine::MySql,
        }
    }

    /// Executes `statement`; the number of rows it changed.
    pub async fn execute<O>(&mut self, statement: SqlStatement<O>) -> Result<u64, sqlx::Error> {
        on_engine!(self, statement, |connection, text, arguments| {
            sqlx::query_with(&text, arguments?)
                .execute(connection)
                .await
                .map(|done| done.rows_affected())
        })
    }

    /// Every row of `statement`.
    pub async fn fetch_all<O: FromSqlRow>(
        &mut self,
        statement: SqlStatement<O>,
    ) -> Result<Vec<O>, sqlx::Error> {
        on_engine!(self, statement, |connection, text, arguments| {
            sqlx::query_as_with::<_, O, _>(&text, arguments?)
                .fetch_all(connection)
                .await
        })
    }

    /// The first row of `statement`, if any.
    pub async fn fetch_optional<O: FromSqlRow>(
        &mut self,
        statement: SqlStatement<O>,
    ) -> Result<Option<O>, sqlx::Error> {
        on_engine!(self, statement, |connection, text, arguments| {
            sqlx::query_as_with::<_, O, _>(&text, arguments?)
                .fetch_optional(connection)
                .await
        })
    }

    /// The first row of `statement`; `sqlx::Error::RowNotFound` when there is none.
    pub async fn fetch_one<O: FromSqlRow>(&mut self, statement: SqlStatement<O>) -> Result<O, sqlx::Error> {
        on_engine!(self, statement, |connection, text, arguments| {
            sqlx::query_as_with::<_, O, _>(&text, arguments?)
                .fetch_one(connection)
                .await
        })
    }

    /// The Postgres connection, when the store runs on Postgres: for SQL of its own (arrays,
    /// `UNNEST`, `jsonb`), in the same transaction.
    #[cfg(feature = "postgres")]
    pub fn postgres(&mut self) -> Option<&mut sqlx::PgConnection> {
        match &mut self.link {
            Link::Postgres(held) => Some(held.connection()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The SQLite connection, when the store runs on SQLite.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(&mut self) -> Option<&mut sqlx::SqliteConnection> {
        match &mut self.link {
            Link::Sqlite(held) => Some(held.connection()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The MariaDB connection, when the store runs on MariaDB.
    #[cfg(feature = "mysql")]
    pub fn mysql(&mut self) -> Option<&mut sqlx::MySqlConnection> {
        match &mut self.link {
            Link::MySql(held) => Some(held.connection()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

impl ReadOnly<'_, Sql> {
    /// The engine the query runs on: for a query that reads with SQL of one engine's own, chosen
    /// by this (the reading methods take the statement either way).
    pub fn engine(&mut self) -> SqlEngine {
        self.connection_mut().engine()
    }
}

/// A type a row of every enabled SQL engine decodes into: a tuple of decodable columns, or a
/// type deriving `sqlx::FromRow`.
pub trait FromSqlRow:
    engines::FromPgRow + engines::FromSqliteRow + engines::FromMySqlRow + Send + Unpin + 'static
{
}

impl<T> FromSqlRow for T where
    T: engines::FromPgRow + engines::FromSqliteRow + engines::FromMySqlRow + Send + Unpin + 'static
{
}

/// One bound per engine, each empty when its feature is off.
pub mod engines {
    macro_rules! from_row {
        ($name:ident, $feature:literal, $row:ty, $engine:literal) => {
            #[doc = concat!("Decodes from a row of ", $engine, " (any type, without the feature).")]
            #[cfg(feature = $feature)]
            pub trait $name: for<'r> sqlx::FromRow<'r, $row> {}
            #[cfg(feature = $feature)]
            impl<T: for<'r> sqlx::FromRow<'r, $row>> $name for T {}
            #[doc = concat!("Decodes from a row of ", $engine, " (any type, without the feature).")]
            #[cfg(not(feature = $feature))]
            pub trait $name {}
            #[cfg(not(feature = $feature))]
            impl<T> $name for T {}
        };
    }

    from_row!(FromPgRow, "postgres", sqlx::postgres::PgRow, "Postgres");
    from_row!(FromSqliteRow, "sqlite", sqlx::sqlite::SqliteRow, "SQLite");
    from_row!(FromMySqlRow, "mysql", sqlx::mysql::MySqlRow, "MariaDB");
}

impl<O> Sealed for SqlStatement<O> {}

impl<O: FromSqlRow> Fetch<Sql> for SqlStatement<O> {
    type Row = O;
    type Error = sqlx::Error;

    fn fetch_all<'c>(self, connection: &'c mut Sql) -> BoxFuture<'c, Result<Vec<O>, sqlx::Error>>
    where
        Self: 'c,
    {
        Box::pin(connection.fetch_all(self))
    }

    fn fetch_optional<'c>(self, connection: &'c mut Sql) -> BoxFuture<'c, Result<Option<O>, sqlx::Error>>
    where
        Self: 'c,
    {
        Box::pin(connection.fetch_optional(self))
    }

    fn fetch_one<'c>(self, connection: &'c mut Sql) -> BoxFuture<'c, Result<O, sqlx::Error>>
    where
        Self: 'c,
    {
        Box::pin(connection.fetch_one(self))
    }
}

/// A runner's hold on a [`SqlReadStore`](super::SqlReadStore): its own connection.
pub struct SqlSession {
    pub(super) sql: Sql,
}

impl std::fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSession")
            .field("engine", &self.sql.engine())
            .finish()
    }
}

/// A runner's transaction on its [`SqlSession`]: begun on the session's connection, rolled back
/// if dropped unfinished.
pub struct SqlWrite<'s> {
    sql: &'s mut Sql,
    open: bool,
}

impl std::fmt::Debug for SqlWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlWrite").field("open", &self.open).finish()
    }
}

/// Runs the transaction-manager call `$call` of the session's engine and sorts its failure.
macro_rules! manage {
    ($sql:expr, $call:ident $(, $argument:expr)?) => {
        match &mut $sql.link {
            #[cfg(feature = "postgres")]
            Link::Postgres(held) => {
                <sqlx::Postgres as Database>::TransactionManager::$call(held.connection() $(, $argument)?)
                    .await
                    .map_err(crate::backend::postgres::errors::read_store_error)
            }
            #[cfg(feature = "sqlite")]
            Link::Sqlite(held) => {
                <sqlx::Sqlite as Database>::TransactionManager::$call(held.connection() $(, $argument)?)
                    .await
                    .map_err(crate::backend::sqlite::errors::read_store_error)
            }
            #[cfg(feature = "mysql")]
            Link::MySql(held) => {
                <sqlx::MySql as Database>::TransactionManager::$call(held.connection() $(, $argument)?)
                    .await
                    .map_err(crate::backend::mysql::errors::read_store_error)
            }
        }
    };
}

impl<'s> SqlWrite<'s> {
    /// Begins a transaction on a session; SQLite's takes the write lock at once, so that two
    /// writers that both read first cannot deadlock on the upgrade.
    pub(super) async fn begin(session: &'s mut SqlSession) -> Result<Self, ReadStoreError> {
        let sql = &mut session.sql;
        let statement: Option<Cow<'static, str>> = match sql.engine() {
            SqlEngine::Sqlite => Some(Cow::Borrowed("BEGIN IMMEDIATE")),
            _ => None,
        };
        manage!(sql, begin, statement)?;
        Ok(Self { sql, open: true })
    }
}

impl ReadTransaction for SqlWrite<'_> {
    type Connection = Sql;

    fn connection(&mut self) -> &mut Sql {
        self.sql
    }

    async fn commit(mut self) -> Result<(), ReadStoreError> {
        self.open = false;
        manage!(self.sql, commit)
    }

    async fn rollback(mut self) -> Result<(), ReadStoreError> {
        self.open = false;
        manage!(self.sql, rollback)
    }
}

impl Drop for SqlWrite<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // Dropped unfinished (a cancelled batch): the rollback goes out before the session's
        // next statement, as sqlx does for its own transactions.
        match &mut self.sql.link {
            #[cfg(feature = "postgres")]
            Link::Postgres(held) => {
                <sqlx::Postgres as Database>::TransactionManager::start_rollback(held.connection())
            }
            #[cfg(feature = "sqlite")]
            Link::Sqlite(held) => {
                <sqlx::Sqlite as Database>::TransactionManager::start_rollback(held.connection())
            }
            #[cfg(feature = "mysql")]
            Link::MySql(held) => {
                <sqlx::MySql as Database>::TransactionManager::start_rollback(held.connection())
            }
        }
    }
}

/// A query's read-only transaction on a [`SqlReadStore`](super::SqlReadStore), on a connection
/// of the engine's query pool.
pub struct SqlRead {
    pub(super) sql: Sql,
}

impl std::fmt::Debug for SqlRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlRead")
            .field("engine", &self.sql.engine())
            .finish()
    }
}

/// Ends a query's pooled transaction with `$end` (commit or rollback).
macro_rules! end_query {
    ($sql:expr, $end:ident) => {
        match $sql.link {
            #[cfg(feature = "postgres")]
            Link::Postgres(Held::Query(transaction)) => transaction
                .$end()
                .await
                .map_err(crate::backend::postgres::errors::read_store_error),
            #[cfg(feature = "sqlite")]
            Link::Sqlite(Held::Query(transaction)) => transaction
                .$end()
                .await
                .map_err(crate::backend::sqlite::errors::read_store_error),
            #[cfg(feature = "mysql")]
            Link::MySql(Held::Query(transaction)) => transaction
                .$end()
                .await
                .map_err(crate::backend::mysql::errors::read_store_error),
            // A query's transaction is always a pooled one (see `SqlReadStore::begin_read_only`).
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        }
    };
}

impl ReadTransaction for SqlRead {
    type Connection = Sql;

    fn connection(&mut self) -> &mut Sql {
        &mut self.sql
    }

    async fn commit(self) -> Result<(), ReadStoreError> {
        end_query!(self.sql, commit)
    }

    async fn rollback(self) -> Result<(), ReadStoreError> {
        end_query!(self.sql, rollback)
    }
}
