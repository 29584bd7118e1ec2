//! The event store: the write model. One trait; the backends implement it.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::error::StoreError;
use super::limits::{check_event, check_stream_id};
use super::metadata::Metadata;
use super::tenant::Tenant;

/// What a successful command returns: where its events landed, never domain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The tenant of the stream (`""`: none; see [`Tenant`](crate::Tenant)).
    pub tenant: String,
    /// The stream the command wrote to.
    pub stream_id: String,
    /// The stream's version after the command.
    pub stream_version: u64,
    /// Global position of the command's last event; `None` when the command recorded nothing.
    pub position: Option<u64>,
}

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
    /// The tenant whose stream it is (`""`: none, see [`Tenant`]); with `stream_id` it names the
    /// stream.
    pub tenant: String,
    /// The stream the event belongs to, within its tenant.
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

impl RecordedEvent {
    /// The context of the `index`-th command `reactor` sends in reaction to this event
    /// ([`CommandContext::reacting_to`](crate::CommandContext::reacting_to)): same correlation
    /// and actor, caused by this event, and a command id derived from it, so that a reaction
    /// repeated after a crash or in a replay is executed once. Send it through a handle bound to
    /// the event's tenant.
    pub fn reaction(&self, reactor: &str, index: u32) -> super::metadata::CommandContext {
        super::metadata::CommandContext::reacting_to(self.event_id, &self.metadata, reactor, index)
    }
}

/// An event as an aggregate's load reads it back: what `apply` needs (type, version, payload),
/// where it stands (position, stream version) and when it was recorded, for loads as of a time.
/// Without the metadata and ids of a [`RecordedEvent`], which a load never reads, so that the
/// stores can leave them in the table ([`EventStore::read_stream_payloads`]).
#[derive(Debug, Clone)]
pub struct StreamEvent {
    /// Position in the global log.
    pub position: u64,
    /// The event's version within its stream, from 1.
    pub stream_version: u64,
    /// Stored type name.
    pub event_type: String,
    /// Stored type version.
    pub event_version: u32,
    /// JSON payload.
    pub payload: Box<RawValue>,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
}

impl From<RecordedEvent> for StreamEvent {
    fn from(event: RecordedEvent) -> Self {
        Self {
            position: event.position,
            stream_version: event.stream_version,
            event_type: event.event_type,
            event_version: event.event_version,
            payload: event.payload,
            recorded_at: event.recorded_at,
        }
    }
}

/// One stream of the log as a listing shows it ([`EventStore::list_streams`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    /// The stream id.
    pub stream_id: String,
    /// Its current version: the number of its events.
    pub version: u64,
    /// When its newest event was recorded.
    pub last_recorded_at: DateTime<Utc>,
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
/// A store is bound to one [`Tenant`] ([`for_tenant`](Self::for_tenant); [`Tenant::none`]
/// unless bound): every method here then writes and reads that tenant's streams only, so that
/// the same stream id in two tenants is two streams, with their own versions, commands,
/// correlations and snapshots. [`EventSource`](crate::EventSource), what projections follow,
/// reads every tenant's events.
///
/// Every implementation passes the same conformance suite (`tests/src/conformance`). The
/// required methods are the log itself; the provided ones check input for every store
/// ([`append`](Self::append)), or have defaults that work for any store (correlation lookups,
/// snapshots), which the built-in stores replace with indexed queries and a snapshot table.
pub trait EventStore: Clone + Send + Sync + 'static {
    /// The tenant this store is bound to: the one it writes into every event and whose streams
    /// it reads.
    fn tenant(&self) -> &Tenant;

    /// The same store (sharing its connections and configuration), bound to `tenant`.
    fn for_tenant(&self, tenant: Tenant) -> Self;

    /// Appends all `events` of one command to `stream_id` atomically, if the stream is still at
    /// `expected_version` (0 for a new stream).
    ///
    /// Fails with [`StoreError::Conflict`] when the stream has moved on and with
    /// [`StoreError::DuplicateEvent`] when an event id is already stored; nothing is written then.
    /// A stream id or an event that no store accepts ([`check_stream_id`](crate::check_stream_id))
    /// fails with [`StoreError::InvalidStreamId`] or [`StoreError::InvalidEvent`] before the
    /// store sees it. No events append nothing and return the stream's expected version.
    ///
    /// Provided: it checks the input, then calls [`append_checked`](Self::append_checked).
    fn append(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<Receipt, StoreError>> + Send {
        async move {
            check_stream_id(stream_id)?;
            if events.is_empty() {
                return Ok(Receipt {
                    tenant: self.tenant().as_str().to_owned(),
                    stream_id: stream_id.to_owned(),
                    stream_version: expected_version,
                    position: None,
                });
            }
            for event in &events {
                check_event(event.event_type, &event.payload, &event.metadata)?;
            }
            self.append_checked(stream_id, expected_version, events).await
        }
    }

    /// What [`append`](Self::append) does once it has checked its input: `events` is not empty,
    /// and the stream id and events keep the limits every store keeps. Call `append` instead.
    fn append_checked(
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

    /// The events of `stream_id` above `after_version`, in order, as a load applies them: what
    /// [`read_stream`](Self::read_stream) returns without metadata and ids. The built-in stores
    /// read only those columns, which spares the database and the driver most of each row; the
    /// default reads whole events.
    fn read_stream_payloads(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> impl Future<Output = Result<Vec<StreamEvent>, StoreError>> + Send {
        async move {
            let events = self.read_stream(stream_id, after_version).await?;
            Ok(events.into_iter().map(StreamEvent::from).collect())
        }
    }

    /// Up to `limit` events of the store's tenant with a position above `after_position`, in log
    /// order.
    fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The receipt of a command already appended with this id in the store's tenant, if any.
    fn find_command(
        &self,
        command_id: Uuid,
    ) -> impl Future<Output = Result<Option<Receipt>, StoreError>> + Send;

    /// Every event whose metadata carries `correlation_id`, across the tenant's streams, in log order:
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

    /// Up to `limit` of the tenant's streams whose id starts with `prefix` (`""`: all), each after
    /// `after` (exclusive; `""` from the first), in the store's order of stream ids (bytes on
    /// SQLite and in memory, the database's collation on Postgres, whose index serves it): a
    /// page of a listing, the next one starting after its last id. The default reads the whole
    /// log.
    fn list_streams(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StreamSummary>, StoreError>> + Send {
        async move {
            let mut streams: std::collections::BTreeMap<String, StreamSummary> = Default::default();
            let mut position = 0;
            loop {
                let page = self.read_all(position, SCAN_PAGE).await?;
                let Some(last) = page.last() else { break };
                position = last.position;
                for event in page {
                    if !event.stream_id.starts_with(prefix) || event.stream_id.as_str() <= after {
                        continue;
                    }
                    let summary = streams.entry(event.stream_id.clone()).or_insert(StreamSummary {
                        stream_id: event.stream_id,
                        version: 0,
                        last_recorded_at: event.recorded_at,
                    });
                    summary.version = summary.version.max(event.stream_version);
                    summary.last_recorded_at = summary.last_recorded_at.max(event.recorded_at);
                }
            }
            Ok(streams.into_values().take(limit).collect())
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

    /// The key store of the subjects whose `#[pii]` fields this store's events hold: the
    /// built-in stores keep the keys in a table of their own beside the events (and `forget`
    /// deletes the snapshots holding a forgotten subject's data). The default has none: events
    /// with personal data are then refused, unless a key store is given with
    /// [`Chronicle::with_key_store`](crate::Chronicle::with_key_store).
    fn key_store(&self) -> Option<super::pii::keys::SharedKeyStore> {
        None
    }
}

/// Events per read when a default method scans the log.
const SCAN_PAGE: usize = 1000;

/// The span of one store's append of `count` events to `stream_id` (`store` names the backend):
/// `chronicle.append`, the same in every store, inside the command's span when a command appends.
pub(crate) fn append_span(
    store: &'static str,
    stream_id: &str,
    expected_version: u64,
    count: usize,
) -> tracing::Span {
    tracing::debug_span!("chronicle.append", store, stream_id, expected_version, count)
}
