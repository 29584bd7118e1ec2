//! Paths used by generated code. Not public API: may change in any release.
//!
//! Runtime helpers the macros call live here rather than in the expansions, so that generated code
//! stays a thin table.

// Markers and tables for generated code, never shown to users.
#![allow(missing_debug_implementations)]

pub use crate::core::aggregate::{Aggregate, AggregateState, Handle, SnapshotState, StateCheck};
pub use crate::core::command::Command;
pub use crate::core::error::HandlerError;
pub use crate::core::event::{
    const_str_eq, decode_payload, encode_payload, upcast_event, DecodeError, Event, EventSet, UpcastFrom,
};
pub use crate::core::future::BoxFuture;
pub use crate::core::metadata::CommandContext;
pub use crate::core::pii::{PiiField, Redact};
pub use crate::core::projection::{BatchFailure, Projection};
pub use crate::core::query::{Answer, Query, ReadOnly};
pub use crate::core::read_store::{ReadConnection, ReadStore};
pub use crate::core::shape::{Describe, DescribeWithSchema, DescribeWithout, EventShape};
pub use crate::core::store::EventStore;
pub use crate::core::store::RecordedEvent;
pub use crate::process::{send_command, Process, ProcessCommand, ProcessManager, RejectedBy, Sent};
pub use crate::write::chronicle::Chronicle;
pub use serde::{de::DeserializeOwned, Serialize};
pub use serde_json::{to_value as to_json_value, Value as JsonValue};

/// The per-engine row bounds [`FromSqlRow`](crate::FromSqlRow) is made of.
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
pub use crate::backend::portable::engines as sql_engines;
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

/// A `#[query]` method's answer as its query's output, in a generated `Answer` impl: picked by
/// method resolution, [`IsTheOutput`] when the two types are one (always, in a program that
/// compiles), [`NotTheOutput`] otherwise. Generated code checks at the user's types, outside the
/// impl, that they are one, or that the query is a query at all; inside the impl, a mismatch then
/// does not fail a second time.
pub struct AnswerAs<T, O>(std::marker::PhantomData<fn(T) -> O>);

impl<T, O> AnswerAs<T, O> {
    /// The marker that method resolution dispatches on.
    pub const NEW: Self = Self(std::marker::PhantomData);
}

/// The answer is the query's output: passed on.
pub trait IsTheOutput<T> {
    /// The answer itself.
    fn convert(&self, answer: T) -> T;
}

impl<T> IsTheOutput<T> for AnswerAs<T, T> {
    fn convert(&self, answer: T) -> T {
        answer
    }
}

/// The answer is not the query's output: the program does not compile (the check outside the
/// impl says why), so this never runs.
pub trait NotTheOutput<T, O> {
    /// Never called in a program that compiles.
    fn convert(&self, answer: T) -> O;
}

impl<T, O> NotTheOutput<T, O> for &AnswerAs<T, O> {
    fn convert(&self, _: T) -> O {
        unreachable!("a `#[query]` method whose answer is not its query's output does not compile")
    }
}

/// Two event types of one aggregate or projection stored under one name, found in const
/// evaluation: the message that names them, for the generated check to panic with (at the user's
/// type, where the panic is reported).
pub struct NameClash {
    text: [u8; NameClash::CAPACITY],
    len: usize,
}

impl NameClash {
    const CAPACITY: usize = 1024;

    /// The message; a message longer than the capacity is cut at a character boundary.
    pub const fn message(&self) -> &str {
        let (written, _) = self.text.split_at(self.len);
        match std::str::from_utf8(written) {
            Ok(text) => text,
            Err(error) => match std::str::from_utf8(written.split_at(error.valid_up_to()).0) {
                Ok(text) => text,
                Err(_) => "",
            },
        }
    }

    const fn push(mut self, piece: &str) -> Self {
        let piece = piece.as_bytes();
        let mut i = 0;
        while i < piece.len() && self.len < Self::CAPACITY {
            self.text[self.len] = piece[i];
            self.len += 1;
            i += 1;
        }
        self
    }
}

/// Whether an event before `index` in `events` (each its stored name and its type as written)
/// has the stored name of the one at `index`; if so, the message "events `A` and `B`" followed
/// by `rest`. One call per event keeps the generated checks linear in the number of events.
pub const fn name_clash(events: &[(&str, &str)], index: usize, rest: &str) -> Option<NameClash> {
    let mut earlier = 0;
    while earlier < index {
        if const_str_eq(events[earlier].0, events[index].0) {
            let clash = NameClash {
                text: [0; NameClash::CAPACITY],
                len: 0,
            };
            let clash = clash.push("events `").push(events[earlier].1).push("` and `");
            return Some(clash.push(events[index].1).push("`").push(rest));
        }
        earlier += 1;
    }
    None
}

/// A batch handler (`#[on]` taking `&[E]`) as generated `apply_batch` hands it a run: the
/// projection, the run of consecutive events stored under its event's name, and the
/// connection. The indexes of its failures are the run's.
pub type RunHandler<P> = for<'a> fn(
    &'a P,
    &'a [RecordedEvent],
    &'a mut <<P as Projection>::Store as ReadStore>::Connection,
) -> BoxFuture<'a, Result<(), BatchFailure>>;

/// `Projection::apply_batch` of a projection with batch handlers, one per stored name in `runs`:
/// each run of consecutive events stored under one of those names goes to its handler as one
/// slice, in order, and every other event to `Projection::apply`, one at a time. A failure names
/// its events by their indexes in `events`. Generated code passes only the table.
pub fn apply_runs<'a, P: Projection, const N: usize>(
    projection: &'a P,
    events: &'a [RecordedEvent],
    connection: &'a mut <P::Store as ReadStore>::Connection,
    runs: [(&'static str, RunHandler<P>); N],
) -> BoxFuture<'a, Result<(), BatchFailure>> {
    Box::pin(async move {
        let mut start = 0;
        while let Some(first) = events.get(start) {
            let Some((name, handler)) = runs.iter().find(|(name, _)| *name == first.event_type) else {
                projection
                    .apply(first, &mut *connection)
                    .await
                    .map_err(|error| BatchFailure::of_one(start, error))?;
                start += 1;
                continue;
            };
            let rest = events.get(start..).unwrap_or_default();
            let length = rest
                .iter()
                .position(|event| event.event_type != *name)
                .unwrap_or(rest.len());
            let run = rest.get(..length).unwrap_or_default();
            handler(projection, run, &mut *connection)
                .await
                .map_err(|failure| BatchFailure {
                    first: start + failure.first,
                    ..failure
                })?;
            start += length;
        }
        Ok(())
    })
}

/// A batch handler's error: it failed on its whole run.
pub fn run_failure(run: &[RecordedEvent], error: HandlerError) -> BatchFailure {
    BatchFailure {
        first: 0,
        count: run.len(),
        error,
    }
}

/// Decodes a run of events for a batch handler; an undecodable event is named by its index in
/// the run.
pub fn decode_run<E: Event>(run: &[RecordedEvent]) -> Result<Vec<E>, BatchFailure> {
    run.iter()
        .enumerate()
        .map(|(index, event)| {
            decode_for_projection::<E>(event).map_err(|error| BatchFailure::of_one(index, error))
        })
        .collect()
}

/// Decodes a recorded event's payload for a projection handler. A failure (a poison event) is
/// the handler's error: the store's error naming the row, which the runner recognises as one
/// that trying again cannot fix.
pub fn decode_for_projection<E: Event>(event: &RecordedEvent) -> Result<E, HandlerError> {
    decode_payload::<E>(event.event_version, &event.payload)
        .map_err(|error| HandlerError::new(crate::core::event::decode_error(event, error)))
}

/// A command a process manager can send: a command that its steps can record (serialized), the
/// test harness compare, and a crash send again (cloned). Generated code reaches each of these
/// through this one trait, so that a command type missing one of them is reported once, at the
/// type in `commands(...)`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent by a process manager",
    note = "a process manager's commands are `#[derive(chronicle::Command)]` types that also derive `Debug`, `Clone`, `PartialEq`, `Serialize` and `Deserialize`: its steps record them"
)]
pub trait SendableCommand: Sized {
    /// `Debug`.
    fn describe(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result;
    /// `Clone`.
    fn duplicate(&self) -> Self;
    /// `PartialEq`.
    fn same(&self, other: &Self) -> bool;
    /// The command as a step records it.
    fn record(&self) -> Result<JsonValue, JsonError>;
    /// A recorded command back.
    fn read(payload: JsonValue) -> Result<Self, HandlerError>;
    /// Sends it for the process manager `P`.
    fn send_for<'a, P, S>(
        &'a self,
        chronicle: &'a Chronicle<S>,
        context: CommandContext,
    ) -> BoxFuture<'a, Result<Sent<P>, HandlerError>>
    where
        P: RejectedBy<Self>,
        S: EventStore,
        Self: Command;
}

impl<T> SendableCommand for T
where
    T: Command + std::fmt::Debug + Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn describe(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }

    fn duplicate(&self) -> Self {
        self.clone()
    }

    fn same(&self, other: &Self) -> bool {
        self == other
    }

    fn record(&self) -> Result<JsonValue, JsonError> {
        serde_json::to_value(self)
    }

    fn read(payload: JsonValue) -> Result<Self, HandlerError> {
        serde_json::from_value(payload).map_err(HandlerError::new)
    }

    fn send_for<'a, P, S>(
        &'a self,
        chronicle: &'a Chronicle<S>,
        context: CommandContext,
    ) -> BoxFuture<'a, Result<Sent<P>, HandlerError>>
    where
        P: RejectedBy<Self>,
        S: EventStore,
    {
        Box::pin(send_command::<P, T, S>(chronicle, self.clone(), context))
    }
}

/// The event `E` a process manager's handler takes, read from `event`; an event that does not
/// read is the error a runner treats as poison at once.
pub fn decode_for_process<E: Event>(event: &RecordedEvent) -> Result<E, HandlerError> {
    decode_payload::<E>(event.event_version, &event.payload)
        .map_err(|error| HandlerError::new(crate::core::event::decode_error(event, error)))
}

/// A step records a command that no variant of the process manager's command enum has.
pub fn unknown_process_command(process: &str, name: &str) -> HandlerError {
    HandlerError::new(format!(
        "process manager `{process}` recorded a command `{name}` it no longer sends: keep the command in `commands(...)` while steps that sent it may still be open"
    ))
}

#[cfg(test)]
mod tests {
    use super::name_clash;

    #[test]
    fn a_clash_names_the_earlier_type_and_the_later() {
        let events = [("a", "A"), ("b", "B"), ("a", "crate::C")];
        assert!(name_clash(&events, 1, "!").is_none());
        let clash = name_clash(&events, 2, " share a name").unwrap();
        assert_eq!(clash.message(), "events `A` and `crate::C` share a name");
    }

    #[test]
    fn a_long_message_is_cut_at_a_character_boundary() {
        // "events `x" is 9 bytes, so the 1024th byte is the first half of an `é`.
        let long = format!("x{}", "é".repeat(600));
        let events = [("a", long.as_str()), ("a", "B")];
        let clash = name_clash(&events, 1, "").unwrap();
        assert!(clash.message().starts_with("events `xéé"));
        assert_eq!(clash.message().len(), 1023);
    }
}
