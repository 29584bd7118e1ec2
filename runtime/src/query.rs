//! Queries: declared questions with an output type, answered from read models through a handle
//! that cannot write.
//!
//! A [`ReadSide`] runs them: [`ReadSide::query`] answers from the read model as it is, and
//! [`ReadSide::query_consistent`] first waits until the read model includes a command's events
//! (read-your-writes).

use std::time::Duration;

use crate::command::Receipt;
use crate::projection::{
    status_of, wait_for_checkpoint, BoxFuture, DeadLetter, HandlerError, Projection, ProjectionError,
    ProjectionRunner, ProjectionStatus, ReadStore,
};
use crate::subscription::EventSource;

/// A question to a read model. Implemented by `#[derive(Query)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Chronicle query",
    note = "add `#[derive(chronicle::Query)]` with `#[query(output = ..., read_model = ...)]`"
)]
pub trait Query: Send + Sync + 'static {
    /// What the answer is.
    type Output: Send + 'static;
    /// The projection whose read model answers it (and that read-your-writes waits for).
    type ReadModel: Answer<Self>;
}

/// A projection that answers the query `Q`. Implemented by `#[query]` methods in `#[projection]`.
#[diagnostic::on_unimplemented(
    message = "projection `{Self}` does not answer query `{Q}`",
    note = "add a `#[query]` method taking `&{Q}` to the `#[projection]` impl of `{Self}`"
)]
pub trait Answer<Q: Query + ?Sized>: Projection {
    /// Answers from the read model through a read-only handle.
    fn answer<'a, 'c: 'a>(
        &'a self,
        query: &'a Q,
        db: &'a mut ReadOnly<'c, <Self::Store as ReadStore>::Connection>,
    ) -> BoxFuture<'a, Result<Q::Output, HandlerError>>;
}

/// A connection inside a read-only transaction. It offers only reading methods; on Postgres the
/// transaction is also `READ ONLY`, and SQLite query connections are `query_only`, so even a
/// writing statement passed to a reading method is refused by the database.
///
/// The database's refusal guards against mistakes, not against malice: a statement that ends the
/// transaction or switches the connection's mode could get around it.
///
/// ```ignore
/// let balance: Option<i64> = db
///     .fetch_optional(sqlx::query_scalar("SELECT balance FROM balances WHERE account_id = $1").bind(id))
///     .await?;
/// ```
pub struct ReadOnly<'c, C> {
    connection: &'c mut C,
}

impl<'c, C> ReadOnly<'c, C> {
    /// Wraps a connection whose transaction the runtime has made read-only.
    pub(crate) fn new(connection: &'c mut C) -> Self {
        Self { connection }
    }

    /// All rows of `statement`: an `sqlx::query`, `sqlx::query_as` or `sqlx::query_scalar` with
    /// its arguments bound.
    pub fn fetch_all<'a, F: Fetch<C> + 'a>(
        &'a mut self,
        statement: F,
    ) -> BoxFuture<'a, Result<Vec<F::Row>, sqlx::Error>> {
        // A boxed future rather than an `async fn`: it keeps the statement's type (and its
        // lifetimes) out of the caller's future, whose `Send` check would otherwise have to hold
        // for every lifetime of SQLite's arguments.
        statement.fetch_all(self.connection)
    }

    /// The first row of `statement`, if any.
    pub fn fetch_optional<'a, F: Fetch<C> + 'a>(
        &'a mut self,
        statement: F,
    ) -> BoxFuture<'a, Result<Option<F::Row>, sqlx::Error>> {
        statement.fetch_optional(self.connection)
    }

    /// The first row of `statement`; [`sqlx::Error::RowNotFound`] when there is none.
    pub fn fetch_one<'a, F: Fetch<C> + 'a>(
        &'a mut self,
        statement: F,
    ) -> BoxFuture<'a, Result<F::Row, sqlx::Error>> {
        let rows = statement.fetch_optional(self.connection);
        Box::pin(async move { rows.await?.ok_or(sqlx::Error::RowNotFound) })
    }
}

/// A statement that [`ReadOnly`] can run on a connection `C`: `sqlx::query(..)` (rows),
/// `sqlx::query_as(..)` (a `FromRow` type) or `sqlx::query_scalar(..)` (one column), for Postgres
/// and SQLite. There is no way to `execute` one: the reading methods are all there is.
pub trait Fetch<C>: Send + fetch::Sealed {
    /// What one row becomes.
    type Row: Send;

    /// Runs the statement and collects every row.
    fn fetch_all<'c>(self, connection: &'c mut C) -> BoxFuture<'c, Result<Vec<Self::Row>, sqlx::Error>>
    where
        Self: 'c;

    /// Runs the statement and returns its first row, if any.
    fn fetch_optional<'c>(
        self,
        connection: &'c mut C,
    ) -> BoxFuture<'c, Result<Option<Self::Row>, sqlx::Error>>
    where
        Self: 'c;
}

mod fetch {
    /// Only sqlx's statement types are [`Fetch`](super::Fetch).
    pub trait Sealed {}
}

/// Implements [`Fetch`] for sqlx's three statement types of one database.
macro_rules! fetch_impls {
    ($db:ty, $connection:ty, $row:ty, $arguments:ty) => {
        impl<'q> fetch::Sealed for sqlx::query::Query<'q, $db, $arguments> {}

        impl<'q> Fetch<$connection> for sqlx::query::Query<'q, $db, $arguments> {
            type Row = $row;

            fn fetch_all<'c>(
                self,
                connection: &'c mut $connection,
            ) -> BoxFuture<'c, Result<Vec<$row>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::Query::fetch_all(self, connection))
            }

            fn fetch_optional<'c>(
                self,
                connection: &'c mut $connection,
            ) -> BoxFuture<'c, Result<Option<$row>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::Query::fetch_optional(self, connection))
            }
        }

        impl<'q, O> fetch::Sealed for sqlx::query::QueryAs<'q, $db, O, $arguments> {}

        impl<'q, O> Fetch<$connection> for sqlx::query::QueryAs<'q, $db, O, $arguments>
        where
            O: Send + Unpin + for<'r> sqlx::FromRow<'r, $row>,
        {
            type Row = O;

            fn fetch_all<'c>(
                self,
                connection: &'c mut $connection,
            ) -> BoxFuture<'c, Result<Vec<O>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::QueryAs::fetch_all(self, connection))
            }

            fn fetch_optional<'c>(
                self,
                connection: &'c mut $connection,
            ) -> BoxFuture<'c, Result<Option<O>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::QueryAs::fetch_optional(self, connection))
            }
        }

        impl<'q, O> fetch::Sealed for sqlx::query::QueryScalar<'q, $db, O, $arguments> {}

        impl<'q, O> Fetch<$connection> for sqlx::query::QueryScalar<'q, $db, O, $arguments>
        where
            O: Send + Unpin,
            (O,): for<'r> sqlx::FromRow<'r, $row>,
        {
            type Row = O;

            fn fetch_all<'c>(
                self,
                connection: &'c mut $connection,
            ) -> BoxFuture<'c, Result<Vec<O>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::QueryScalar::fetch_all(self, connection))
            }

            fn fetch_optional<'c>(
                self,
                connection: &'c mut $connection,
            ) -> BoxFuture<'c, Result<Option<O>, sqlx::Error>>
            where
                Self: 'c,
            {
                Box::pin(sqlx::query::QueryScalar::fetch_optional(self, connection))
            }
        }
    };
}

#[cfg(feature = "postgres")]
fetch_impls!(
    sqlx::Postgres,
    sqlx::PgConnection,
    sqlx::postgres::PgRow,
    sqlx::postgres::PgArguments
);
#[cfg(feature = "sqlite")]
fetch_impls!(
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    sqlx::sqlite::SqliteRow,
    sqlx::sqlite::SqliteArguments<'q>
);

/// Why a query has no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query's handler failed (a database error, including a refused write, or its own).
    #[error("query failed: {0}")]
    Handler(#[source] HandlerError),
    /// The read store or the event store failed, or the read model did not catch up in time
    /// ([`ProjectionError::Timeout`]).
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

/// The read side of an application: the event store its projections follow and the read store
/// their read models live in. Runs queries, waits for read models, reports on them, and makes
/// runners.
///
/// Cheap to clone when the stores are.
#[derive(Debug, Clone)]
pub struct ReadSide<S, R> {
    source: S,
    store: R,
}

impl<S: EventSource, R: ReadStore> ReadSide<S, R> {
    /// A read side following `source` with read models in `store`.
    pub fn new(source: S, store: R) -> Self {
        Self { source, store }
    }

    /// The event store.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The read store.
    pub fn store(&self) -> &R {
        &self.store
    }

    /// A runner of `projection` from this read side's event store into its read store.
    pub fn runner<P: Projection<Store = R>>(&self, projection: P) -> ProjectionRunner<P, S> {
        ProjectionRunner::new(self.source.clone(), self.store.clone(), projection)
    }

    /// Answers `query` from `read_model` as it is now, in a read-only transaction that is
    /// rolled back afterwards.
    pub async fn query<Q>(&self, read_model: &Q::ReadModel, query: &Q) -> Result<Q::Output, QueryError>
    where
        Q: Query,
        Q::ReadModel: Projection<Store = R>,
    {
        let mut tx = self.store.begin_read_only().await?;
        let answer = {
            let mut db = ReadOnly::new(&mut *tx);
            read_model.answer(query, &mut db).await
        };
        // Nothing to keep; a failed rollback only means the connection is gone.
        let _ = tx.rollback().await;
        answer.map_err(QueryError::Handler)
    }

    /// Answers `query` once `read_model` includes the events of the command behind `receipt`
    /// (read-your-writes), waiting up to `timeout` for its runner, wherever that runs. Fails with
    /// [`ProjectionError::Timeout`] (inside [`QueryError::Projection`]) when it does not catch up
    /// in time.
    pub async fn query_consistent<Q>(
        &self,
        read_model: &Q::ReadModel,
        query: &Q,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<Q::Output, QueryError>
    where
        Q: Query,
        Q::ReadModel: Projection<Store = R>,
    {
        self.wait_for::<Q::ReadModel>(receipt.position, timeout).await?;
        self.query(read_model, query).await
    }

    /// Waits until projection `P`'s read model includes the event at global `position` (a
    /// [`Receipt`]'s), whichever process runs it. `None` (the command recorded nothing) is
    /// ready at once. Fails with [`ProjectionError::Timeout`] after `timeout`.
    pub async fn wait_for<P: Projection<Store = R>>(
        &self,
        position: Option<u64>,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        wait_for_checkpoint::<P, S>(&self.source, &self.store, position, timeout, None).await
    }

    /// Where projection `P` stands, from the stores alone (its `state` is
    /// [`Detached`](crate::projection::RunnerState::Detached); a runner's handle knows more).
    pub async fn status<P: Projection<Store = R>>(&self) -> Result<ProjectionStatus, ProjectionError> {
        status_of::<P, S>(&self.source, &self.store).await
    }

    /// The dead letters of projection `P`.
    pub async fn dead_letters<P: Projection<Store = R>>(&self) -> Result<Vec<DeadLetter>, ProjectionError> {
        self.store.dead_letters(P::NAME).await
    }
}
