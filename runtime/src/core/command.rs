//! Commands: requests to change one aggregate, answered with a receipt and never with data.

use super::aggregate::{Aggregate, Handle};

/// A command addressed to one aggregate instance. Implemented by `#[derive(Command)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Chronicle command",
    note = "add `#[derive(chronicle::Command)]` with `#[command(aggregate = ...)]` and an `#[id]` field"
)]
pub trait Command: Sized + Send + Sync + 'static {
    /// The aggregate that handles the command.
    type Aggregate: Aggregate + Handle<Self>;

    /// Whether the command starts a new aggregate (`#[command(creates)]`): it is decided on the
    /// aggregate's `Default` state without reading its stream, and appended as the stream's first
    /// events. If the stream exists after all, the append conflicts and the command is decided
    /// again on the stream's real state, as any other; a rejection decided on the guessed state is
    /// checked against the stream first. So the flag saves a read and never changes an outcome.
    const CREATES: bool = false;

    /// The id of the aggregate instance the command targets (its `#[id]` field, as text).
    fn aggregate_id(&self) -> String;
}

/// The business error of the command `C`, as declared by its handler.
pub type RejectionOf<C> = <<C as Command>::Aggregate as Handle<C>>::Error;
