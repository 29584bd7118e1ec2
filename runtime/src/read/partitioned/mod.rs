//! Partitioned projections: one projection's streams split into partitions, each with its own
//! checkpoint and lease, processed by workers in as many processes as there are partitions.
//!
//! [`PartitionedRunner`] is the builder of one worker; [`spawn`](PartitionedRunner::spawn)
//! starts its supervisor (`supervisor.rs`: a worker slot, the layout, the share of partitions it
//! leads) and returns a [`PartitionedHandle`] (`handle.rs`). Each partition is run by an
//! ordinary runner of the projection wrapped as [`PartitionOf`], which reads only its streams;
//! `read/layout.rs` names what the read store keeps.

mod handle;
mod partition_of;
mod supervisor;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;

pub use self::handle::{PartitionStatus, PartitionedHandle, PartitionedStatus};
use self::partition_of::Settings;
use self::supervisor::Supervisor;
use crate::core::partition::MAX_PARTITIONS;
use crate::core::projection::Projection;
use crate::core::source::EventSource;
use crate::read::runner::{OnPoison, RetryPolicy, DEFAULT_BATCH_SIZE, DEFAULT_LEASE, DEFAULT_POLL_INTERVAL};

/// One worker of a partitioned projection: a builder, then [`spawn`](Self::spawn).
///
/// The projection's streams are split into `partitions` by a stable hash of the stream id
/// ([`Partition::of`](crate::Partition::of)); each partition has its own checkpoint, lease and dead letters, and its
/// events are applied in stream order, exactly once, like an unpartitioned projection's. Events
/// of different partitions are applied in no particular order with each other: partition a
/// projection only when its handlers touch one stream's rows per event (a balance per account),
/// never when it needs the global order (a running total over all streams, "the latest event").
///
/// Start one worker per process, in as many processes as you like: each takes a slot among the
/// projection's workers, leads its share of the partitions (`partitions / workers`, the first
/// ones one more) and stands by for the others. A worker that joins gets partitions handed over
/// by the others within a poll interval or two; a worker that stops hands its partitions over at
/// once, and one that dies loses them when its read-store claims go (with its Postgres sessions,
/// at once; SQLite and Redis leases after [`lease`](Self::lease)); one that stops answering
/// (a paused process) loses them after the lease too. No partition is applied by two workers at
/// once: each batch's checkpoint update is fenced on the previous one.
///
/// The first worker of a new layout (another partition count, or a new projection version)
/// rebuilds the read model once, when no worker of the old layout runs any more, and every
/// partition replays from the start: changing the partition count is a rebuild.
pub struct PartitionedRunner<P: Projection, S> {
    source: S,
    store: P::Store,
    projection: Arc<P>,
    partitions: u32,
    settings: Settings,
}

impl<P: Projection, S> fmt::Debug for PartitionedRunner<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionedRunner")
            .field("projection", &self.projection.identity().name)
            .field("partitions", &self.partitions)
            .field("batch_size", &self.settings.batch_size)
            .finish_non_exhaustive()
    }
}

impl<P: Projection, S: EventSource> PartitionedRunner<P, S> {
    /// A worker of `projection` split into `partitions` (1 to [`MAX_PARTITIONS`]; clamped), from
    /// the events of `source` into `store`, with the defaults of [`ProjectionRunner`](crate::ProjectionRunner).
    pub fn new(source: S, store: P::Store, projection: P, partitions: u32) -> Self {
        Self {
            source,
            store,
            projection: Arc::new(projection),
            partitions: partitions.clamp(1, MAX_PARTITIONS),
            settings: Settings {
                batch_size: DEFAULT_BATCH_SIZE,
                poll_interval: DEFAULT_POLL_INTERVAL,
                retry: RetryPolicy::default(),
                on_poison: OnPoison::default(),
                lease: DEFAULT_LEASE,
            },
        }
    }

    /// Events per batch and per transaction, in each partition (at least 1).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.settings.batch_size = batch_size.max(1);
        self
    }

    /// How long a caught-up partition waits before reading anyway, and how often the worker
    /// looks at its peers (who joined, who left) and a standby partition tries to take over.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How failing batches are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry = policy;
        self
    }

    /// What to do with an event whose handler still fails after every retry.
    pub fn on_poison(mut self, on_poison: OnPoison) -> Self {
        self.settings.on_poison = on_poison;
        self
    }

    /// How long the worker's claims last without renewal (see [`ProjectionRunner::lease`](crate::ProjectionRunner::lease)): how
    /// long after a worker died (SQLite, Redis) or stopped answering (Postgres: its sessions are
    /// ended by the server) its partitions are taken over. Default 15 s.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.settings.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// Starts the worker on the Tokio runtime. Dropping the handle leaves it running; stop it
    /// with [`PartitionedHandle::stop`].
    #[must_use = "the handle is how the worker is stopped and observed"]
    pub fn spawn(self) -> PartitionedHandle<P, S> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(handle::Shared::new(self.partitions));
        let owner = Uuid::new_v4();
        let supervisor = Supervisor {
            source: self.source.clone(),
            store: self.store.clone(),
            projection: self.projection.clone(),
            count: self.partitions,
            settings: self.settings,
            owner,
            shared: shared.clone(),
            stop: stop_rx,
        };
        let span = tracing::info_span!(
            "chronicle.partitioned",
            projection = self.projection.identity().name,
            partitions = self.partitions
        );
        let task = tokio::spawn(tracing::Instrument::instrument(supervisor.run(), span));
        PartitionedHandle {
            source: self.source,
            store: self.store,
            projection: self.projection,
            count: self.partitions,
            shared,
            owner,
            stop: stop_tx,
            task,
        }
    }
}
