//! The errors of the model: what went wrong with the event store or the data in it, with a
//! command, and inside a handler the application wrote.
//!
//! Every public error enum of Chronicle is `#[non_exhaustive]` and has one variant per kind of
//! failure: callers match on what happened, never on message text.

use uuid::Uuid;

/// Boxed source error of a database driver or of application code.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a projection handler, a query handler or an inline projection failed: the application's
/// own error, boxed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(#[source] pub BoxError);

impl HandlerError {
    /// Wraps any error.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }

    /// A failure of something the handler depends on that is away for now (the broker a
    /// [`Relay`](crate::Relay) publishes to): a runner treats it like a read store it cannot
    /// reach, trying again with pauses for as long as it takes, never as a poison event.
    pub fn unavailable(error: impl Into<BoxError>) -> Self {
        Self(Box::new(Unavailable(error.into())))
    }

    /// Whether the handler failed with [`unavailable`](Self::unavailable).
    pub fn is_unavailable(&self) -> bool {
        self.0.downcast_ref::<Unavailable>().is_some()
    }

    /// Whether the handler failed because its event could not be read or decoded (a
    /// [`StoreError`] naming the row): deterministic, so trying again cannot help.
    pub fn is_undecodable(&self) -> bool {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(self.0.as_ref());
        while let Some(error) = current {
            if let Some(store) = error.downcast_ref::<StoreError>() {
                return matches!(
                    store,
                    StoreError::UnknownEventType { .. }
                        | StoreError::UnknownEventVersion { .. }
                        | StoreError::Undecodable { .. }
                        | StoreError::Sealed { .. }
                        | StoreError::Unreadable { .. }
                );
            }
            current = error.source();
        }
        false
    }
}

/// The marker [`HandlerError::unavailable`] wraps its error in.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Unavailable(BoxError);

/// An error of an event store, or of the data found in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A stored event's name is not one the reader knows.
    #[error(
        "unknown event type `{event_type}` version {event_version} at position {position} \
         (stream `{stream_id}` version {stream_version})"
    )]
    UnknownEventType {
        /// The event's global position.
        position: u64,
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
        "cannot read `{event_type}` version {event_version} at position {position} (stream \
         `{stream_id}` version {stream_version}): `{rust_type}` reads {}{}",
        readable_versions(*.oldest, *.current),
        if *.event_version > *.current { " (the row was written by a newer version of the program)" }
        else { "; declare the older shape with `#[event(upcast_from = ...)]`" }
    )]
    UnknownEventVersion {
        /// The event's global position.
        position: u64,
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
    /// A stored payload does not match the Rust type.
    #[error(
        "cannot decode `{event_type}` version {event_version} at position {position} (stream \
         `{stream_id}` version {stream_version}): {source}"
    )]
    Undecodable {
        /// The event's global position.
        position: u64,
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
    /// A stored event's personal-data field is sealed and does not open: altered, no key for
    /// it, or read without a key store. (A forgotten subject's field is not this: it reads
    /// redacted.)
    #[error(
        "cannot read personal-data field `{field}` of `{event_type}` at position {position} \
         (stream `{stream_id}` version {stream_version}): {reason}"
    )]
    Sealed {
        /// The event's global position.
        position: u64,
        /// The stream the event belongs to.
        stream_id: String,
        /// The event's version within its stream.
        stream_version: u64,
        /// The stored type name.
        event_type: String,
        /// The field.
        field: &'static str,
        /// Why it did not open.
        reason: String,
    },
    /// New personal data of a subject that was forgotten: refused, since its key is destroyed
    /// and a new key would bring the subject back.
    #[error("subject `{subject}` was forgotten: no new personal data of it can be stored")]
    SubjectForgotten {
        /// The subject.
        subject: String,
    },
    /// An event with personal-data fields, and no key store to seal them with (the event store
    /// provides none, and none was given with `Chronicle::with_key_store`).
    #[error("event `{event_type}` has `#[pii]` fields, and there is no key store to seal them with: give one with `Chronicle::with_key_store`")]
    NoKeyStore {
        /// The event's stored name.
        event_type: &'static str,
    },
    /// A row of the event table holds what Chronicle could not have written (metadata that is not
    /// [`Metadata`](crate::Metadata), a negative version, a payload that is not JSON): the row
    /// cannot even be read as an event.
    #[error(
        "unreadable event at position {position} (stream `{stream_id}`, type `{event_type}`): \
         column `{column}` {detail}"
    )]
    Unreadable {
        /// The event's global position.
        position: u64,
        /// The stream the row belongs to.
        stream_id: String,
        /// The stored type name.
        event_type: String,
        /// The column that cannot be read.
        column: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A row of another of Chronicle's tables (snapshots) holds what Chronicle could not have
    /// written.
    #[error("corrupt row in `{table}`: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong, and where.
        detail: String,
    },
    /// A stream id that no store accepts (see [`check_stream_id`](crate::check_stream_id)):
    /// refused before any store saw it, the same way by every store.
    #[error("invalid stream id `{stream_id}`: {reason}")]
    InvalidStreamId {
        /// The stream id, shortened to its first 80 characters when longer.
        stream_id: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A payload or metadata that no store accepts (text with a NUL character): refused before
    /// any store saw it, the same way by every store.
    #[error("event `{event_type}` cannot be stored: {reason}")]
    InvalidEvent {
        /// The event's stored name.
        event_type: &'static str,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A name Chronicle puts into SQL (a schema) that is not a plain identifier.
    #[error("invalid {kind} name `{name}`: {rule}")]
    InvalidName {
        /// What the name names.
        kind: &'static str,
        /// The name given.
        name: String,
        /// What a valid name looks like.
        rule: &'static str,
    },
    /// A partition that no partitioned projection can have: its index is not below its count,
    /// or the count is 0 or above `MAX_PARTITIONS`. Refused before any store saw it.
    #[error("there is no partition {index} of {count} (partitions count from 0, and there are 1 to MAX_PARTITIONS of them)")]
    InvalidPartition {
        /// The index asked for.
        index: u32,
        /// The count asked for.
        count: u32,
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
        source: HandlerError,
    },
    /// The database could not serve the request now (connection refused or lost, pool timed out
    /// or closed, server starting or shutting down): worth retrying later.
    #[error("event store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The database answered with an error.
    #[error("event store error: {0}")]
    Database(#[source] BoxError),
}

impl StoreError {
    /// Whether waiting and trying again may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
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
#[non_exhaustive]
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

/// An error and its causes on one line, for logs, status and dead letters.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // `#[error("{0}")]` wrappers repeat their source's message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
