//! An in-memory event store for unit tests and prototypes; it forgets everything on drop.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use uuid::Uuid;

use crate::core::error::StoreError;
use crate::core::source::{
    batch, serial_position, AppendListener, Batch, Checkpoint, EventSource, Head, Progress,
};
use crate::core::store::{
    append_span, EventStore, NewEvent, Receipt, RecordedEvent, Snapshot, StreamSummary,
};
use crate::core::tenant::Tenant;

/// An event store kept in process memory, with the same guarantees as the database stores:
/// atomic appends, optimistic concurrency and unique event ids.
///
/// As an [`EventSource`] it reads in position order (appends take turns, and every transaction id
/// is 0); [`listen`](EventSource::listen) is woken by appends through the store and its clones.
///
/// Cloning is cheap: clones share the log and the append signal (and so do the store's
/// [`for_tenant`](EventStore::for_tenant) bindings).
#[derive(Clone)]
pub struct MemoryStore {
    log: Arc<Mutex<Log>>,
    tenant: Tenant,
    /// Bumped after every append, for [`listen`](EventSource::listen).
    appended: Arc<tokio::sync::watch::Sender<u64>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("events", &self.log().events.len())
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            log: Arc::default(),
            tenant: Tenant::none(),
            appended: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }
}

#[derive(Default)]
pub(super) struct Log {
    pub(super) events: Vec<RecordedEvent>,
    /// Indexes into `events` per tenant and stream, in stream order.
    streams: HashMap<(Tenant, String), Vec<usize>>,
    event_ids: HashSet<Uuid>,
    /// Index of the last event of each command, per tenant.
    commands: HashMap<(Tenant, Uuid), usize>,
    /// Indexes into `events` per correlation id, in log order.
    correlations: HashMap<Uuid, Vec<usize>>,
    /// The newest snapshot of each tenant's stream.
    pub(super) snapshots: HashMap<(Tenant, String), Snapshot>,
    /// The subjects' keys of `#[pii]` fields, and their tombstones (`keys.rs`).
    pub(super) keys: HashMap<crate::core::pii::keys::Subject, crate::core::pii::keys::KeyState>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a log read of this store returns `event`: every event without a tenant bound,
    /// else the tenant's own.
    fn sees(&self, event: &RecordedEvent) -> bool {
        self.tenant.is_none() || event.tenant == self.tenant.as_str()
    }

    pub(super) fn log(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock cannot leave the log half-written: appends check
        // everything before mutating, so a poisoned lock is still consistent.
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends under the lock; the signal is raised after it is released.
    fn append_locked(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        let mut log = self.log();
        let key = (self.tenant.clone(), stream_id.to_owned());
        let current = log.streams.get(&key).map_or(0, |s| s.len() as u64);
        if current != expected_version {
            return Err(StoreError::Conflict {
                stream_id: stream_id.to_owned(),
                expected: expected_version,
            });
        }
        // An id stored before, or repeated within this append: the database stores refuse both
        // on their unique key.
        let mut ids = HashSet::with_capacity(events.len());
        if let Some(dup) = events
            .iter()
            .find(|e| log.event_ids.contains(&e.event_id) || !ids.insert(e.event_id))
        {
            return Err(StoreError::DuplicateEvent {
                event_id: dup.event_id,
            });
        }
        let recorded_at = Utc::now();
        let mut receipt = Receipt {
            tenant: self.tenant.as_str().to_owned(),
            stream_id: stream_id.to_owned(),
            stream_version: current,
            position: None,
        };
        for event in events {
            let index = log.events.len();
            let position = index as u64 + 1;
            receipt.stream_version += 1;
            receipt.position = Some(position);
            log.event_ids.insert(event.event_id);
            log.commands
                .insert((self.tenant.clone(), event.metadata.command_id), index);
            log.correlations
                .entry(event.metadata.correlation_id)
                .or_default()
                .push(index);
            log.streams.entry(key.clone()).or_default().push(index);
            log.events.push(RecordedEvent {
                position,
                transaction_id: 0,
                tenant: self.tenant.as_str().to_owned(),
                stream_id: stream_id.to_owned(),
                stream_version: receipt.stream_version,
                event_id: event.event_id,
                event_type: event.event_type.to_owned(),
                event_version: event.event_version,
                payload: event.payload,
                metadata: event.metadata,
                recorded_at,
            });
        }
        Ok(receipt)
    }
}

impl EventStore for MemoryStore {
    fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    fn for_tenant(&self, tenant: Tenant) -> Self {
        Self {
            tenant,
            ..self.clone()
        }
    }

    async fn append_checked(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        // Nothing is awaited inside the span.
        let _span = append_span("memory", stream_id, expected_version, events.len()).entered();
        let receipt = self.append_locked(stream_id, expected_version, events)?;
        if receipt.position.is_some() {
            self.appended.send_modify(|count| *count = count.wrapping_add(1));
        }
        Ok(receipt)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let log = self.log();
        let Some(indexes) = log.streams.get(&(self.tenant.clone(), stream_id.to_owned())) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(after_version).unwrap_or(usize::MAX);
        Ok(indexes
            .iter()
            .skip(skip)
            .map(|&i| log.events[i].clone())
            .collect())
    }

    async fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let log = self.log();
        // Positions are index + 1, so the first event after `after_position` is at that index.
        let start = usize::try_from(after_position)
            .unwrap_or(usize::MAX)
            .min(log.events.len());
        Ok(log.events[start..]
            .iter()
            .filter(|e| self.sees(e))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn find_command(&self, command_id: Uuid) -> Result<Option<Receipt>, StoreError> {
        let log = self.log();
        Ok(log.commands.get(&(self.tenant.clone(), command_id)).map(|&i| {
            let event = &log.events[i];
            Receipt {
                tenant: event.tenant.clone(),
                stream_id: event.stream_id.clone(),
                stream_version: event.stream_version,
                position: Some(event.position),
            }
        }))
    }

    async fn read_by_correlation(&self, correlation_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        let log = self.log();
        Ok(log
            .correlations
            .get(&correlation_id)
            .map(|indexes| {
                indexes
                    .iter()
                    .map(|&i| &log.events[i])
                    .filter(|e| self.sees(e))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<StreamSummary>, StoreError> {
        let log = self.log();
        let mut streams: Vec<StreamSummary> = log
            .streams
            .iter()
            .filter(|((tenant, id), _)| {
                *tenant == self.tenant && id.starts_with(prefix) && id.as_str() > after
            })
            .filter_map(|((_, id), indexes)| {
                Some(StreamSummary {
                    stream_id: id.clone(),
                    version: indexes.len() as u64,
                    last_recorded_at: log.events.get(*indexes.last()?)?.recorded_at,
                })
            })
            .collect();
        streams.sort_by(|a, b| a.stream_id.cmp(&b.stream_id));
        streams.truncate(limit);
        Ok(streams)
    }

    fn key_store(&self) -> Option<crate::core::pii::keys::SharedKeyStore> {
        Some(Arc::new(self.clone()))
    }

    async fn read_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let key = (self.tenant.clone(), stream_id.to_owned());
        Ok(self.log().snapshots.get(&key).cloned())
    }

    async fn write_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let mut log = self.log();
        let key = (self.tenant.clone(), snapshot.stream_id.clone());
        // A late write never replaces a newer snapshot (see `EventStore::write_snapshot`).
        let keep_stored = log
            .snapshots
            .get(&key)
            .is_some_and(|stored| stored.stream_version > snapshot.stream_version);
        if !keep_stored {
            log.snapshots.insert(key, snapshot);
        }
        Ok(())
    }
}

impl EventSource for MemoryStore {
    async fn read_batch(
        &self,
        after: Checkpoint,
        event_types: &[&str],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        let log = self.log();
        // Positions are index + 1, so the first event after `after` is at that index.
        let start = usize::try_from(serial_position(after))
            .unwrap_or(usize::MAX)
            .min(log.events.len());
        let events = log.events[start..]
            .iter()
            .filter(|e| event_types.is_empty() || event_types.contains(&e.event_type.as_str()))
            .take(limit)
            .cloned()
            .collect();
        let caught_up = Checkpoint {
            transaction_id: 0,
            position: log.events.len() as u64,
        };
        Ok(batch(after, events, limit, caught_up, None))
    }

    async fn head(&self) -> Result<Head, StoreError> {
        let log = self.log();
        let last = log.events.last();
        Ok(Head {
            checkpoint: Checkpoint {
                transaction_id: 0,
                position: last.map_or(0, |e| e.position),
            },
            position: last.map(|e| e.position),
            recorded_at: last.map(|e| e.recorded_at),
        })
    }

    async fn progress(&self, after: Checkpoint, event_types: &[&str]) -> Result<Progress, StoreError> {
        let log = self.log();
        let after = serial_position(after);
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(log.events.len());
        let mut readable = log.events[start..]
            .iter()
            .filter(|e| event_types.is_empty() || event_types.contains(&e.event_type.as_str()));
        let oldest_readable_at = readable.next().map(|e| e.recorded_at);
        let count = oldest_readable_at.map_or(0, |_| 1 + readable.count());
        Ok(Progress {
            // Positions are index + 1: the checkpoint's position is the last event it passed.
            position: (start > 0).then_some(start as u64),
            readable: count as u64,
            oldest_readable_at,
            held_back: 0,
            held_back_by: None,
        })
    }

    async fn any_between(&self, after: Checkpoint, until: Checkpoint) -> Result<bool, StoreError> {
        let log = self.log();
        let (after, until) = (serial_position(after), serial_position(until));
        Ok(until > after && after < log.events.len() as u64)
    }

    async fn checkpoint_of(&self, position: u64) -> Result<Option<Checkpoint>, StoreError> {
        let log = self.log();
        let exists = position > 0 && position <= log.events.len() as u64;
        Ok(exists.then_some(Checkpoint {
            transaction_id: 0,
            position,
        }))
    }

    /// An in-process signal, raised by every append through this store or its clones.
    async fn listen(&self) -> Result<AppendListener, StoreError> {
        Ok(AppendListener::local(self.appended.subscribe()))
    }
}
