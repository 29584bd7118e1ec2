//! The event store: one trait, several backends.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::command::Receipt;
use crate::error::StoreError;
use crate::metadata::Metadata;

/// The read methods of an [`EventStore`] that wraps another in `self.$field` and only changes
/// how appends are made (inline projections, group commit). Used inside the wrapper's impl.
macro_rules! forward_reads_to {
    ($field:ident) => {
        async fn read_stream(
            &self,
            stream_id: &str,
            after_version: u64,
        ) -> Result<Vec<$crate::RecordedEvent>, $crate::StoreError> {
            self.$field.read_stream(stream_id, after_version).await
        }

        async fn read_all(
            &self,
            after_position: u64,
            limit: usize,
        ) -> Result<Vec<$crate::RecordedEvent>, $crate::StoreError> {
            self.$field.read_all(after_position, limit).await
        }

        async fn find_command(
            &self,
            command_id: uuid::Uuid,
        ) -> Result<Option<$crate::Receipt>, $crate::StoreError> {
            self.$field.find_command(command_id).await
        }

        async fn read_by_correlation(
            &self,
            correlation_id: uuid::Uuid,
        ) -> Result<Vec<$crate::RecordedEvent>, $crate::StoreError> {
            self.$field.read_by_correlation(correlation_id).await
        }

        async fn read_snapshot(
            &self,
            stream_id: &str,
        ) -> Result<Option<$crate::store::Snapshot>, $crate::StoreError> {
            self.$field.read_snapshot(stream_id).await
        }

        async fn write_snapshot(&self, snapshot: $crate::store::Snapshot) -> Result<(), $crate::StoreError> {
            self.$field.write_snapshot(snapshot).await
        }
    };
}

/// [`EventSource`](crate::EventSource) for a wrapper store: every method reads `self.$field`.
macro_rules! forward_event_source {
    ($wrapper:ty, $field:ident) => {
        impl $crate::EventSource for $wrapper {
            async fn read_batch(
                &self,
                after: $crate::Checkpoint,
                event_types: &[&str],
                limit: usize,
            ) -> Result<$crate::Batch, $crate::StoreError> {
                self.$field.read_batch(after, event_types, limit).await
            }

            async fn head(&self) -> Result<$crate::Head, $crate::StoreError> {
                self.$field.head().await
            }

            async fn count_after(
                &self,
                after: $crate::Checkpoint,
                event_types: &[&str],
            ) -> Result<u64, $crate::StoreError> {
                self.$field.count_after(after, event_types).await
            }

            async fn checkpoint_of(
                &self,
                position: u64,
            ) -> Result<Option<$crate::Checkpoint>, $crate::StoreError> {
                self.$field.checkpoint_of(position).await
            }

            async fn listen(&self) -> Result<$crate::AppendListener, $crate::StoreError> {
                self.$field.listen().await
            }
        }
    };
}

#[cfg(feature = "postgres")]
mod direct;
#[cfg(feature = "postgres")]
pub mod group_commit;
#[cfg(feature = "postgres")]
pub mod inline;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "postgres")]
mod wake_up;

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

/// The state of an aggregate at one version of its stream, kept so that loading it replays only
/// the events after that version. Written by [`Chronicle`](crate::Chronicle) for aggregates
/// declared with `#[aggregate(snapshot_every = N)]`; a store keeps the newest one per stream.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The stream the state was rebuilt from.
    pub stream_id: String,
    /// The aggregate's [`NAME`](crate::Aggregate::NAME).
    pub aggregate_type: String,
    /// The version of the state's shape ([`Aggregate::SNAPSHOT_VERSION`](crate::Aggregate::SNAPSHOT_VERSION));
    /// a snapshot of another version is ignored when loading.
    pub snapshot_version: u32,
    /// The stream version the state includes: every event up to and including it.
    pub stream_version: u64,
    /// The serialized state.
    pub state: Box<RawValue>,
    /// When the snapshot was taken.
    pub taken_at: DateTime<Utc>,
}

/// Where events are kept: the write model.
///
/// Every implementation passes the same behaviour tests (`tests/tests/behaviour.rs`). The
/// required methods are the log itself; the provided ones (correlation lookups, snapshots) have
/// defaults that work for any store, which the built-in stores replace with indexed queries and
/// a snapshot table.
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

    /// Every event whose metadata carries `correlation_id`, across all streams, in log order:
    /// everything one request caused. The built-in stores answer from an index; the default
    /// scans the whole log.
    fn read_by_correlation(
        &self,
        correlation_id: Uuid,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send {
        async move {
            let mut found = Vec::new();
            let mut after = 0;
            loop {
                let page = self.read_all(after, SCAN_PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.position;
                found.extend(
                    page.into_iter()
                        .filter(|e| e.metadata.correlation_id == correlation_id),
                );
            }
            Ok(found)
        }
    }

    /// The newest snapshot of `stream_id`, if the store keeps snapshots and has one. The default
    /// keeps none: aggregates are then always loaded from their first event.
    fn read_snapshot(
        &self,
        stream_id: &str,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
        let _ = stream_id;
        async { Ok(None) }
    }

    /// Stores `snapshot` as the stream's newest. It replaces the stored one when that is at the
    /// same or a lower stream version, whatever their
    /// [`snapshot_version`](Snapshot::snapshot_version)s; a stored snapshot at a higher stream
    /// version is kept instead, so a write that arrives late (snapshots are written in the
    /// background) never replaces a newer one. The default keeps nothing.
    fn write_snapshot(&self, snapshot: Snapshot) -> impl Future<Output = Result<(), StoreError>> + Send {
        drop(snapshot);
        async { Ok(()) }
    }
}

/// Events per read when a default method scans the log.
const SCAN_PAGE: usize = 1000;
