//! The event store: one trait, several backends.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::command::Receipt;
use crate::error::StoreError;
use crate::metadata::Metadata;

#[cfg(feature = "postgres")]
pub mod group_commit;
#[cfg(feature = "postgres")]
pub mod inline;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// An event about to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Unique id of the event; derived from the command id so a re-submitted command collides.
    pub event_id: Uuid,
    /// Stored type name.
    pub event_type: &'static str,
    /// Stored type version.
    pub event_version: u32,
    /// JSON payload.
    pub payload: Box<RawValue>,
    /// Who, why and in answer to what.
    pub metadata: Metadata,
}

/// An event as stored.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    /// Position in the global log (strictly increasing, may have gaps).
    pub position: u64,
    /// The writing transaction's id on Postgres (`xid8`); 0 on stores that commit in position
    /// order. With `position` it gives the event's [`Checkpoint`](crate::Checkpoint).
    pub transaction_id: u64,
    /// The stream the event belongs to.
    pub stream_id: String,
    /// The event's version within its stream, from 1, without gaps.
    pub stream_version: u64,
    /// Unique id of the event.
    pub event_id: Uuid,
    /// Stored type name.
    pub event_type: String,
    /// Stored type version.
    pub event_version: u32,
    /// JSON payload.
    pub payload: Box<RawValue>,
    /// Who, why and in answer to what.
    pub metadata: Metadata,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// Where events are kept: the write model.
///
/// Every implementation passes the same behaviour tests (`tests/tests/store_behaviour.rs`).
pub trait EventStore: Clone + Send + Sync + 'static {
    /// Appends all `events` of one command to `stream_id` atomically, if the stream is still at
    /// `expected_version` (0 for a new stream).
    ///
    /// Fails with [`StoreError::Conflict`] when the stream has moved on and with
    /// [`StoreError::DuplicateEvent`] when an event id is already stored; nothing is written then.
    fn append(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<Receipt, StoreError>> + Send;

    /// The events of `stream_id` with a stream version above `after_version`, in order.
    fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Up to `limit` events of the global log with a position above `after_position`, in order.
    fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The receipt of a command already appended with this id, if any.
    fn find_command(
        &self,
        command_id: Uuid,
    ) -> impl Future<Output = Result<Option<Receipt>, StoreError>> + Send;
}
