//! Queries: declared questions with an output type, answered from read models through a handle
//! that cannot write.
//!
//! A [`ReadSide`](crate::ReadSide) runs them: [`query`](crate::ReadSide::query) answers from the
//! read model as it is, and [`query_consistent`](crate::ReadSide::query_consistent) first waits
//! until the read model includes a command's events (read-your-writes).

use super::error::HandlerError;
use super::future::BoxFuture;
use super::projection::Projection;
use super::read_store::ReadStore;
use super::tenant::Tenant;

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
/// It carries the [`Tenant`] the query is asked for ([`ReadSide::for_tenant`](crate::ReadSide::for_tenant);
/// [`Tenant::none`] otherwise): a read model keeping per-tenant rows filters on
/// [`tenant`](Self::tenant), so that one tenant's query never reads another's rows.
///
/// ```ignore
/// let balance: Option<i64> = db
///     .fetch_optional(sqlx::query_scalar("SELECT balance FROM balances WHERE account_id = $1").bind(id))
///     .await?;
/// ```
pub struct ReadOnly<'c, C> {
    connection: &'c mut C,
    tenant: Tenant,
}

impl<C> std::fmt::Debug for ReadOnly<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnly")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl<'c, C> ReadOnly<'c, C> {
    /// Wraps a connection whose transaction the runtime has made read-only.
    pub(crate) fn new(connection: &'c mut C, tenant: Tenant) -> Self {
        Self { connection, tenant }
    }

    /// The tenant this query is asked for: the one whose rows it may read.
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// The connection, for the reading methods a backend adds to `ReadOnly` of its own
    /// connection type (Redis).
    #[allow(dead_code)] // used only by backends of some features
    pub(crate) fn connection_mut(&mut self) -> &mut C {
        self.connection
    }

    /// The connection, shared, for the backends' methods that only look at it (Redis's `key`).
    #[allow(dead_code)] // used only by backends of some features
    pub(crate) fn connection(&self) -> &C {
        self.connection
    }

    /// All rows of `statement` (for the SQL stores: an `sqlx::query`, `sqlx::query_as` or
    /// `sqlx::query_scalar` with its arguments bound).
    pub fn fetch_all<'a, F: Fetch<C> + 'a>(
        &'a mut self,
        statement: F,
    ) -> BoxFuture<'a, Result<Vec<F::Row>, F::Error>> {
        // A boxed future rather than an `async fn`: it keeps the statement's type (and its
        // lifetimes) out of the caller's future, whose `Send` check would otherwise have to hold
        // for every lifetime of SQLite's arguments.
        statement.fetch_all(self.connection)
    }

    /// The first row of `statement`, if any.
    pub fn fetch_optional<'a, F: Fetch<C> + 'a>(
        &'a mut self,
        statement: F,
    ) -> BoxFuture<'a, Result<Option<F::Row>, F::Error>> {
        statement.fetch_optional(self.connection)
    }

    /// The first row of `statement`; the driver's "no row" error when there is none
    /// (`sqlx::Error::RowNotFound` for the SQL stores).
    pub fn fetch_one<'a, F: Fetch<C> + 'a>(
        &'a mut self,
        statement: F,
    ) -> BoxFuture<'a, Result<F::Row, F::Error>> {
        statement.fetch_one(self.connection)
    }
}

/// A statement that [`ReadOnly`] can run on a connection `C`: for the SQL stores,
/// `sqlx::query(..)` (rows), `sqlx::query_as(..)` (a `FromRow` type) or `sqlx::query_scalar(..)`
/// (one column). There is no way to `execute` one: the reading methods are all there is.
pub trait Fetch<C>: Send + sealed::Sealed {
    /// What one row becomes.
    type Row: Send;
    /// The driver's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Runs the statement and collects every row.
    fn fetch_all<'c>(self, connection: &'c mut C) -> BoxFuture<'c, Result<Vec<Self::Row>, Self::Error>>
    where
        Self: 'c;

    /// Runs the statement and returns its first row, if any.
    fn fetch_optional<'c>(
        self,
        connection: &'c mut C,
    ) -> BoxFuture<'c, Result<Option<Self::Row>, Self::Error>>
    where
        Self: 'c;

    /// Runs the statement and returns its first row, failing when there is none.
    fn fetch_one<'c>(self, connection: &'c mut C) -> BoxFuture<'c, Result<Self::Row, Self::Error>>
    where
        Self: 'c;
}

pub(crate) mod sealed {
    /// Only the statement types of the backends' drivers are [`Fetch`](super::Fetch).
    pub trait Sealed {}
}
