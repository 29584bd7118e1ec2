//! Projections: read models built from the event stream, and the stores they live in.

use std::future::Future;
use std::pin::Pin;

use crate::error::BoxError;
use crate::store::RecordedEvent;

/// A boxed future, as returned by generated projection and query code.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a projection handler (or query handler) failed; wraps the user's error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(#[source] pub BoxError);

impl HandlerError {
    /// Wraps any error.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }
}

/// A read model maintained from the event stream. Implemented by `#[projection]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Chronicle projection",
    note = "put `#[chronicle::projection]` on an `impl {Self}` block with async handler methods"
)]
pub trait Projection: Send + Sync + 'static {
    /// The projection's name; its checkpoint is stored under it.
    const NAME: &'static str;
    /// The version of the read model's shape; changing it rebuilds the read model from the start.
    const VERSION: u32;
    /// The stored names of the events it handles; only those are read from the store.
    const EVENT_TYPES: &'static [&'static str];
    /// Whether the projection has a `#[reset]` method that empties its read model.
    const HAS_RESET: bool;
    /// The store its read model lives in.
    type Store: ReadStore;

    /// Applies one event to the read model, inside the runner's transaction.
    fn apply<'a>(
        &'a self,
        event: &'a RecordedEvent,
        connection: &'a mut <Self::Store as ReadStore>::Connection,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;

    /// Empties the read model before a rebuild, inside the rebuild's transaction. Projections
    /// without a `#[reset]` method do nothing here.
    fn reset<'a>(
        &'a self,
        connection: &'a mut <Self::Store as ReadStore>::Connection,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;
}

/// A store that holds read models and the checkpoints of the projections that write them.
pub trait ReadStore: Clone + Send + Sync + 'static {
    /// The connection projection handlers write with, inside the runner's transaction.
    type Connection: Send + 'static;
}

/// Maps a connection type named in a handler's signature to its read store, so a projection's
/// store follows from the signature alone.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a read-model connection",
    note = "projection handlers take `&mut chronicle::sqlx::PgConnection` or `&mut chronicle::sqlx::SqliteConnection`"
)]
pub trait ReadConnection: Send + 'static {
    /// The read store whose transactions hand out this connection.
    type Store: ReadStore<Connection = Self>;
}
