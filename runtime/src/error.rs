//! The errors of the runtime: what went wrong with the store, and what went wrong with a command.

use uuid::Uuid;

/// Boxed source error of a database driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of an event store, or of the data found in it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended to the stream after it was loaded.
    #[error(
        "concurrency conflict on stream `{stream_id}`: expected version {expected}, but it has moved on"
    )]
    Conflict {
        /// The stream written to.
        stream_id: String,
        /// The version the writer expected the stream to be at.
        expected: u64,
    },
    /// An event with this id is already stored (a command re-submitted with the same id).
    #[error("event {event_id} is already stored")]
    DuplicateEvent {
        /// The id of the event that was appended before.
        event_id: Uuid,
    },
    /// A stored event's name is not one the aggregate knows.
    #[error("unknown event type `{event_type}` version {event_version} at stream `{stream_id}` version {stream_version}")]
    UnknownEventType {
        /// The stream the event belongs to.
        stream_id: String,
        /// The event's version within its stream.
        stream_version: u64,
        /// The stored type name.
        event_type: String,
        /// The stored type version.
        event_version: u32,
    },
    /// A stored event's name is known, but its version is not one the Rust type reads: newer
    /// than the type, or older than its `#[event(upcast_from = ...)]` chain goes.
    #[error(
        "cannot read `{event_type}` version {event_version} at stream `{stream_id}` version {stream_version}: \
         `{rust_type}` reads {}{}",
        readable_versions(*.oldest, *.current),
        if *.event_version > *.current { " (the row was written by a newer version of the program)" }
        else { "; declare the older shape with `#[event(upcast_from = ...)]`" }
    )]
    UnknownEventVersion {
        /// The stream the event belongs to.
        stream_id: String,
        /// The event's version within its stream.
        stream_version: u64,
        /// The stored type name.
        event_type: String,
        /// The stored type version.
        event_version: u32,
        /// The Rust type the stored name belongs to.
        rust_type: &'static str,
        /// The oldest version it reads (through its `upcast_from` chain).
        oldest: u32,
        /// Its current version.
        current: u32,
    },
    /// A stored payload or metadata does not match the Rust type.
    #[error("cannot decode `{event_type}` version {event_version} at stream `{stream_id}` version {stream_version}: {source}")]
    Undecodable {
        /// The stream the event belongs to.
        stream_id: String,
        /// The event's version within its stream.
        stream_version: u64,
        /// The stored type name.
        event_type: String,
        /// The stored type version.
        event_version: u32,
        /// What did not match.
        #[source]
        source: serde_json::Error,
    },
    /// An event could not be serialized before appending.
    #[error("cannot serialize event `{event_type}`: {source}")]
    Encode {
        /// The event's stored name.
        event_type: &'static str,
        /// Why serialization failed.
        #[source]
        source: serde_json::Error,
    },
    /// An inline projection failed, so the append was rolled back with it.
    #[error("inline projection `{projection}` failed, nothing was appended: {source}")]
    InlineProjection {
        /// The projection's name.
        projection: &'static str,
        /// What its handler said.
        #[source]
        source: crate::projection::HandlerError,
    },
    /// The database could not be reached (connection refused or lost, pool timed out or closed).
    #[error("event store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The database answered with an error.
    #[error("event store error: {0}")]
    Database(#[source] BoxError),
}

fn readable_versions(oldest: u32, current: u32) -> String {
    if oldest == current {
        format!("version {current} only")
    } else {
        format!("versions {oldest} to {current}")
    }
}

/// Why a command did not produce a receipt.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E> {
    /// The aggregate's business rules rejected the command; nothing was appended.
    #[error("command rejected: {0}")]
    Rejected(#[source] E),
    /// The stream kept moving under the command: every attempt met a concurrent writer.
    #[error("concurrency conflict on stream `{stream_id}`: gave up after {attempts} attempts")]
    Concurrency {
        /// The stream the command targeted.
        stream_id: String,
        /// How many times the command was loaded, decided and appended.
        attempts: u32,
    },
    /// The aggregate needs services that were not registered with `Chronicle::with_services`.
    #[error("no services registered for aggregate `{aggregate}`: call `Chronicle::with_services::<{aggregate}>(...)`")]
    ServicesMissing {
        /// The aggregate's name.
        aggregate: &'static str,
    },
    /// The store failed, or holds data the aggregate cannot read.
    #[error(transparent)]
    Store(#[from] StoreError),
}
