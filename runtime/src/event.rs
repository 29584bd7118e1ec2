//! Events: the facts an aggregate records, and the enum that groups one aggregate's events.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;

/// A domain event: a plain struct that records something that happened.
///
/// Implement it with `#[derive(Event)]`; the stored name defaults to the struct's name and can be
/// pinned with `#[event(name = "bank.MoneyDeposited")]` so that renaming the Rust type never
/// changes what is stored.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Chronicle event",
    label = "not an event",
    note = "add `#[derive(chronicle::Event, serde::Serialize, serde::Deserialize, Debug, Clone)]` to `{Self}`"
)]
pub trait Event: Serialize + DeserializeOwned + Debug + Clone + Send + Sync + 'static {
    /// The stable name stored with every event of this type.
    const NAME: &'static str;
    /// The current shape's version, starting at 1.
    const VERSION: u32;
}

/// The set of events one aggregate records: the enum that `#[aggregate]` generates, with one
/// variant per event type.
pub trait EventSet: Debug + Clone + Send + Sync + Sized + 'static {
    /// Every stored name and current version of the set, in declaration order.
    const TYPES: &'static [(&'static str, u32)];

    /// The stored name of this event.
    fn event_type(&self) -> &'static str;

    /// The version of this event's current shape.
    fn event_version(&self) -> u32;

    /// Serializes the event's payload (without the enum's tag) to JSON.
    fn to_payload(&self) -> Result<Box<RawValue>, serde_json::Error>;

    /// Rebuilds an event from its stored name, version and JSON payload.
    fn decode(event_type: &str, event_version: u32, payload: &RawValue) -> Result<Self, DecodeError>;
}

/// Why a stored event could not be turned back into a Rust value (without the row's context).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// No event type of the set has this stored name.
    #[error("no event type of this aggregate is stored as `{0}`")]
    UnknownType(String),
    /// The stored version is not one this event type can read.
    #[error("`{event_type}` version {found} cannot be read by the current version {current}")]
    UnknownVersion {
        /// The stored name.
        event_type: &'static str,
        /// The stored version.
        found: u32,
        /// The version the Rust type declares.
        current: u32,
    },
    /// The JSON did not match the event's shape.
    #[error("the payload does not match the event's shape: {0}")]
    Payload(#[from] serde_json::Error),
}

/// Decodes one event type's payload, checking the stored version against the declared one.
///
/// Called by the generated `EventSet::decode`; kept here so generated code stays a thin table.
pub fn decode_payload<E: Event>(event_version: u32, payload: &RawValue) -> Result<E, DecodeError> {
    if event_version != E::VERSION {
        return Err(DecodeError::UnknownVersion {
            event_type: E::NAME,
            found: event_version,
            current: E::VERSION,
        });
    }
    Ok(serde_json::from_str(payload.get())?)
}

/// Serializes one event type's payload; called by the generated `EventSet::to_payload`.
pub fn encode_payload<E: Event>(event: &E) -> Result<Box<RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(event)
}

/// Compares two strings in a constant context; the generated code uses it to reject two event
/// types of one aggregate that share a stored name at compile time.
#[doc(hidden)]
pub const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
