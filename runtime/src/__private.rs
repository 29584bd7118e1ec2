//! Paths used by generated code. Not public API: may change in any release.
//!
//! Runtime helpers the macros call live here rather than in the expansions, so that generated code
//! stays a thin table.

pub use crate::aggregate::{Aggregate, Handle, SnapshotState};
pub use crate::command::Command;
pub use crate::event::{
    const_str_eq, decode_payload, encode_payload, upcast_event, DecodeError, Event, EventSet, UpcastFrom,
};
pub use crate::projection::{BatchFailure, BoxFuture, HandlerError, Projection, ReadConnection, ReadStore};
pub use crate::query::{Answer, Query, ReadOnly};
pub use crate::store::RecordedEvent;
pub use serde::{de::DeserializeOwned, Serialize};
pub use serde_json::value::RawValue;
pub use serde_json::Error as JsonError;
pub use std::{
    boxed::Box, clone::Clone, convert::From, option::Option, result::Result, string::String, vec::Vec,
};

/// An event type that the event set `S` (an aggregate's generated enum) records: implemented by
/// `#[aggregate]` for each type an `#[apply]` method takes, and for the enum itself. Generated
/// `Handle` impls convert what a command handler returns through it, so that the compiler, not
/// the macro, decides whether a returned type is one of the aggregate's events, however the
/// handler names it (a path, a `use` rename, a type alias, a `$t:ty` of a `macro_rules!` macro).
pub trait EventOf<S>: Sized {
    /// The event as a value of the set.
    fn into_set(self) -> S;
}

/// The end of the run of events from `start` on stored as `event_type`: what one batch handler
/// is handed at once.
pub fn run_end(events: &[RecordedEvent], start: usize, event_type: &str) -> usize {
    let rest = events.get(start..).unwrap_or_default();
    rest.iter()
        .position(|event| event.event_type != event_type)
        .map_or(events.len(), |length| start + length)
}

/// Decodes a run of events for a batch handler; `first` is the run's index in the batch, so
/// that an undecodable event is named exactly.
pub fn decode_run<E: Event>(run: &[RecordedEvent], first: usize) -> Result<Vec<E>, BatchFailure> {
    run.iter()
        .enumerate()
        .map(|(index, event)| {
            decode_for_projection::<E>(event).map_err(|error| BatchFailure::of_one(first + index, error))
        })
        .collect()
}

/// Decodes a recorded event's payload for a projection handler. A failure (a poison event) is
/// the handler's error and names the event and the Rust type.
pub fn decode_for_projection<E: Event>(event: &RecordedEvent) -> Result<E, HandlerError> {
    decode_payload::<E>(event.event_version, &event.payload).map_err(|error| {
        HandlerError::new(format!(
            "cannot decode event {} (`{}` version {} of stream `{}`) as `{}`: {error}",
            event.position,
            event.event_type,
            event.event_version,
            event.stream_id,
            std::any::type_name::<E>(),
        ))
    })
}
