//! Aggregates: the consistency boundary that decides on commands and evolves by applying events.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;

use super::event::EventSet;
use super::limits::is_valid_aggregate_name;

/// An event-sourced aggregate. Implemented by `#[aggregate]` on the aggregate's `impl` block.
///
/// State changes only through [`Aggregate::apply`]; deciding on a command goes through
/// [`Handle::handle`], which takes `&self`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Chronicle aggregate",
    note = "put `#[chronicle::aggregate]` on an `impl {Self}` block with `#[handle]` and `#[apply]` methods"
)]
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The aggregate's name; its streams are `"{NAME}-{id}"`. Not empty, and without `-`, which
    /// separates the name from the id (see [`stream_id`](crate::stream_id)).
    const NAME: &'static str;
    /// The enum of every event the aggregate records.
    type Event: EventSet;
    /// What command handlers may use besides the state (clocks, id generators, lookups): `()`
    /// unless declared with `#[aggregate(services = MyServices)]`.
    type Services: Send + Sync + 'static;

    /// Every how many events a snapshot of the state is taken; 0 (the default) for never. Set
    /// with `#[aggregate(snapshot_every = 100)]`.
    const SNAPSHOT_EVERY: u64 = 0;
    /// The version of the state's shape in snapshots, set with `#[aggregate(snapshot_version =
    /// 2)]` (default 1). Bump it whenever the state's fields change: snapshots of another version
    /// are ignored (the aggregate is loaded from its events) and replaced.
    const SNAPSHOT_VERSION: u32 = 1;

    /// Evolves the state by one event.
    fn apply(&mut self, event: &Self::Event);

    /// The state as a snapshot's JSON; `None` for aggregates that keep no snapshots (the
    /// default). Generated with `snapshot_every`.
    fn to_snapshot(&self) -> Option<Result<Box<RawValue>, serde_json::Error>> {
        None
    }

    /// The state read back from a snapshot's JSON; `None` for aggregates that keep no snapshots
    /// (the default). Generated with `snapshot_every`.
    fn from_snapshot(state: &RawValue) -> Option<Result<Self, serde_json::Error>> {
        let _ = state;
        None
    }
}

/// What every aggregate needs of its state, the supertraits of [`Aggregate`], under one name:
/// the impls that `#[aggregate]` and `#[derive(Command)]` generate are bounded by it, so that a
/// state without `Default` is not reported again at each of them, but once, by [`StateCheck`].
#[doc(hidden)]
pub trait AggregateState: Default + Clone + Send + Sync + 'static {}

impl<T: Default + Clone + Send + Sync + 'static> AggregateState for T {}

/// [`AggregateState`], checked once by generated code at the aggregate's type, with the message
/// that explains it. A trait of its own (without supertraits), so that the message is this one
/// and the help names the missing trait.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is the state of an aggregate, so it must implement `Default` and `Clone`, and be `Send + Sync + 'static`",
    label = "the state of an aggregate",
    note = "an aggregate's state starts from `Default::default()` before its first event, and is cloned to decide again after a concurrent write: add `#[derive(Default, Clone)]` to `{Self}`"
)]
pub trait StateCheck {
    /// Does nothing: generated code names it so that the bound is checked at the user's type.
    fn assert_state() {}
}

impl<T: AggregateState> StateCheck for T {}

/// What an aggregate with snapshots needs of its state: implemented for every `Serialize +
/// Deserialize` type. A trait of its own, so that a missing derive is explained at the
/// aggregate's type.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "aggregate `{Self}` keeps snapshots, so its state must implement `Serialize` and `Deserialize`",
    label = "not `Serialize` and `Deserialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or remove `snapshot_every` from its `#[aggregate(...)]`"
)]
pub trait SnapshotState: Sized {
    /// Serializes the state for a snapshot; called by generated code.
    fn encode_state(&self) -> Result<Box<RawValue>, serde_json::Error>;

    /// Reads the state from a snapshot; called by generated code.
    fn decode_state(state: &RawValue) -> Result<Self, serde_json::Error>;
}

// Not recommended in diagnostics: a state without serde is then one error, with the message of
// `SnapshotState`, rather than one for `Serialize` and another for `Deserialize`.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> SnapshotState for T {
    fn encode_state(&self) -> Result<Box<RawValue>, serde_json::Error> {
        serde_json::value::to_raw_value(self)
    }

    fn decode_state(state: &RawValue) -> Result<Self, serde_json::Error> {
        serde_json::from_str(state.get())
    }
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

/// The stream id of the aggregate `A` with the given id: `"{A::NAME}-{id}"`.
pub fn stream_id<A: Aggregate>(id: &str) -> String {
    const {
        assert!(
            is_valid_aggregate_name(A::NAME),
            "an aggregate's NAME must not be empty or contain `-`, which separates the name from the id in stream ids"
        )
    };
    let mut stream = String::with_capacity(A::NAME.len() + 1 + id.len());
    stream.push_str(A::NAME);
    stream.push('-');
    stream.push_str(id);
    stream
}

/// The aggregate name a stream id begins with: up to its first `-` (names cannot contain one),
/// or the whole id of a stream not named by [`stream_id`].
pub fn aggregate_of(stream_id: &str) -> &str {
    stream_id.split_once('-').map_or(stream_id, |(name, _)| name)
}
