//! Queries: declared questions with an output type, answered from read models through a handle
//! that cannot write.

use crate::projection::{BoxFuture, HandlerError, Projection, ReadStore};

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
/// transaction is also `READ ONLY`, so even raw SQL cannot write.
pub struct ReadOnly<'c, C> {
    connection: &'c mut C,
}

impl<'c, C> ReadOnly<'c, C> {
    /// Wraps a connection whose transaction the runtime has made read-only.
    pub(crate) fn new(connection: &'c mut C) -> Self {
        Self { connection }
    }

    #[allow(dead_code)]
    pub(crate) fn connection(&mut self) -> &mut C {
        self.connection
    }
}
