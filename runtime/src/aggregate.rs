//! Aggregates: the consistency boundary that decides on commands and evolves by applying events.

use crate::event::EventSet;

/// An event-sourced aggregate. Implemented by `#[aggregate]` on the aggregate's `impl` block.
///
/// State changes only through [`Aggregate::apply`]; deciding on a command goes through
/// [`Handle::handle`], which takes `&self`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Chronicle aggregate",
    note = "put `#[chronicle::aggregate]` on an `impl {Self}` block with `#[handle]` and `#[apply]` methods"
)]
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The aggregate's name; stream ids are `"{NAME}-{id}"`.
    const NAME: &'static str;
    /// The enum of every event the aggregate records.
    type Event: EventSet;
    /// What command handlers may use besides the state (clocks, id generators, lookups): `()`
    /// unless declared with `#[aggregate(services = MyServices)]`.
    type Services: Send + Sync + 'static;

    /// Evolves the state by one event.
    fn apply(&mut self, event: &Self::Event);
}

/// An aggregate that decides on the command `C`.
#[diagnostic::on_unimplemented(
    message = "aggregate `{Self}` has no handler for command `{C}`",
    label = "`{C}` is not handled here",
    note = "add a `#[handle]` method taking `{C}` to the `#[aggregate]` impl of `{Self}`"
)]
pub trait Handle<C>: Aggregate {
    /// The business error a rejected command returns.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decides on the command: the events to record, or why the command is rejected.
    fn handle(&self, command: &C, services: &Self::Services) -> Result<Vec<Self::Event>, Self::Error>;
}

/// The stream id of the aggregate `A` with the given id.
pub fn stream_id<A: Aggregate>(id: &str) -> String {
    format!("{}-{}", A::NAME, id)
}
