//! The handle of a partitioned projection's worker: which partitions it leads, where each
//! partition stands, read-your-writes on the partition that owns a receipt's stream, stopping.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::core::partition::Partition;
use crate::core::projection::{Identity, Projection};
use crate::core::read_store::{DeadLetter, ReadStore};
use crate::core::source::EventSource;
use crate::core::store::Receipt;
use crate::read::error::ProjectionError;
use crate::read::layout::partition_name;
use crate::read::runner::{outcome, LeaderFlag, RunnerExit};
use crate::read::status::{status_of, ProjectionStatus};
use crate::read::wait::wait_for_checkpoint;

/// What the worker's supervisor shares with its handle and its partitions' gates.
pub(crate) struct Shared {
    count: u32,
    /// How many partitions this worker should lead now.
    target: AtomicU32,
    /// How many workers it sees, itself included (0 before it has a slot).
    workers: AtomicU32,
    /// Its slot among the workers, `u32::MAX` before it has one.
    slot: AtomicU32,
    /// Each partition's runner's leadership, by partition index, while it runs.
    leaders: Mutex<Vec<Option<LeaderFlag>>>,
    /// The supervisor's last error, with its causes.
    last_error: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn new(count: u32) -> Self {
        Self {
            count,
            target: AtomicU32::new(0),
            workers: AtomicU32::new(0),
            slot: AtomicU32::new(u32::MAX),
            leaders: Mutex::new(vec![None; count as usize]),
            last_error: Mutex::new(None),
        }
    }

    fn leaders(&self) -> MutexGuard<'_, Vec<Option<LeaderFlag>>> {
        // Only plain assignments happen under the lock: a poisoned one is still consistent.
        self.leaders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The partitions this worker's runners lead now.
    pub(crate) fn led(&self) -> Vec<Partition> {
        self.leaders()
            .iter()
            .enumerate()
            .filter(|(_, flag)| flag.as_ref().is_some_and(LeaderFlag::is_leader))
            .map(|(index, _)| Partition {
                index: index as u32,
                count: self.count,
            })
            .collect()
    }

    /// The gate of every partition's runner: one more may lead while fewer than the target do.
    pub(crate) fn may_lead_one_more(&self) -> bool {
        (self.led().len() as u32) < self.target.load(Ordering::SeqCst)
    }

    pub(crate) fn set_runner(&self, partition: Partition, flag: Option<LeaderFlag>) {
        if let Some(slot) = self.leaders().get_mut(partition.index as usize) {
            *slot = flag;
        }
    }

    pub(crate) fn set_share(&self, slot: Option<u32>, workers: u32, target: u32) {
        self.slot.store(slot.unwrap_or(u32::MAX), Ordering::SeqCst);
        self.workers.store(workers, Ordering::SeqCst);
        self.target.store(target, Ordering::SeqCst);
    }

    pub(crate) fn target(&self) -> u32 {
        self.target.load(Ordering::SeqCst)
    }

    pub(crate) fn set_error(&self, error: Option<String>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = error;
    }
}

/// Where a partitioned projection stands, as one of its workers sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PartitionedStatus {
    /// The projection's name.
    pub projection: &'static str,
    /// How many partitions it has.
    pub partitions: u32,
    /// This worker's id: what a partition's [`holder`](PartitionStatus::holder) reads when this
    /// worker holds it (a random id per worker, new at each start).
    pub worker: String,
    /// This worker's slot among the projection's workers (`None` until it has one).
    pub slot: Option<u32>,
    /// How many workers this one sees, itself included.
    pub workers: u32,
    /// How many partitions this worker aims to lead: its share.
    pub share: u32,
    /// Each partition, in order.
    pub each: Vec<PartitionStatus>,
    /// The worker's last error (finding its peers, setting the layout up), if any.
    pub last_error: Option<String>,
}

impl PartitionedStatus {
    /// Events not yet applied, over all partitions.
    pub fn lag_events(&self) -> u64 {
        self.each.iter().map(|p| p.status.lag_events).sum()
    }
}

/// One partition's place, and who runs it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PartitionStatus {
    /// Which partition.
    pub partition: Partition,
    /// Its checkpoint, lag and (when this worker leads it) its runner's state and last error,
    /// under the partition's own name.
    pub status: ProjectionStatus,
    /// Whether this worker leads it (otherwise another worker does, or none: see its lag).
    pub held_here: bool,
    /// Who holds its claim, as the read store tells (see
    /// [`ReadStore::holder`](crate::ReadStore::holder)): a worker's id (compare with each
    /// worker's [`worker`](PartitionedStatus::worker)) on Postgres, SQLite and Redis, the
    /// session on MariaDB; `None` when no worker holds it.
    pub holder: Option<String>,
}

/// Controls and observes one worker of a partitioned projection.
pub struct PartitionedHandle<P: Projection, S> {
    pub(super) source: S,
    pub(super) store: P::Store,
    pub(super) projection: Arc<P>,
    pub(super) count: u32,
    pub(super) shared: Arc<Shared>,
    /// The id the worker's claims are taken under.
    pub(super) owner: uuid::Uuid,
    pub(super) stop: watch::Sender<bool>,
    pub(super) task: JoinHandle<Result<(), ProjectionError>>,
}

impl<P: Projection, S> fmt::Debug for PartitionedHandle<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionedHandle")
            .field("projection", &self.projection.identity().name)
            .field("partitions", &self.count)
            .field("led", &self.shared.led())
            .finish_non_exhaustive()
    }
}

impl<P: Projection, S: EventSource> PartitionedHandle<P, S> {
    /// The projection's name.
    pub fn name(&self) -> &'static str {
        self.projection.identity().name
    }

    /// How many partitions the projection has.
    pub fn partitions(&self) -> u32 {
        self.count
    }

    /// The partitions this worker leads now.
    pub fn led(&self) -> Vec<Partition> {
        self.shared.led()
    }

    /// This worker's slot among the projection's workers, once it has one: what
    /// [`status`](Self::status) reports as `slot`, without asking the stores where each
    /// partition stands (which counts each one's lag).
    pub fn slot(&self) -> Option<u32> {
        let slot = self.shared.slot.load(Ordering::SeqCst);
        (slot != u32::MAX).then_some(slot)
    }

    fn identity_of(&self, partition: Partition) -> Identity<'static> {
        Identity {
            name: partition_name(self.name(), partition),
            version: P::VERSION,
            event_types: P::EVENT_TYPES,
            partition: Some(partition),
        }
    }

    /// Where each partition stands, and which this worker leads.
    pub async fn status(&self) -> Result<PartitionedStatus, ProjectionError> {
        let led = self.led();
        let mut each = Vec::with_capacity(self.count as usize);
        for partition in Partition::all(self.count) {
            let mut status = status_of(&self.source, &self.store, self.identity_of(partition)).await?;
            let held_here = led.contains(&partition);
            status.leader = held_here;
            let holder = self.store.holder(partition_name(self.name(), partition)).await?;
            each.push(PartitionStatus {
                partition,
                status,
                held_here,
                holder,
            });
        }
        Ok(PartitionedStatus {
            projection: self.name(),
            partitions: self.count,
            worker: self.owner.to_string(),
            slot: self.slot(),
            workers: self.shared.workers.load(Ordering::SeqCst),
            share: self.shared.target(),
            each,
            last_error: self
                .shared
                .last_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        })
    }

    /// Waits until the read model includes the command behind `receipt`: until the partition
    /// that owns its stream has applied it, whichever worker runs that partition
    /// (read-your-writes). Fails with [`ProjectionError::Timeout`] after `timeout`.
    pub async fn wait_for(&self, receipt: &Receipt, timeout: Duration) -> Result<(), ProjectionError> {
        let partition = Partition::of(&receipt.stream_id, self.count);
        wait_for_checkpoint(
            &self.source,
            &self.store,
            self.identity_of(partition),
            receipt.position,
            None,
            timeout,
            None,
        )
        .await
    }

    /// Waits until every partition has caught up with every event stored now.
    pub async fn wait_until_caught_up(&self, timeout: Duration) -> Result<(), ProjectionError> {
        let head = self.source.head().await?;
        let deadline = tokio::time::Instant::now() + timeout;
        for partition in Partition::all(self.count) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            wait_for_checkpoint(
                &self.source,
                &self.store,
                self.identity_of(partition),
                head.position,
                None,
                left,
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// The dead letters of every partition, of the projection's current version, by position.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, ProjectionError> {
        let mut letters = Vec::new();
        for partition in Partition::all(self.count) {
            let name = partition_name(self.name(), partition);
            letters.extend(self.store.dead_letters(name, P::VERSION).await?);
        }
        letters.sort_by_key(|letter| letter.position);
        Ok(letters)
    }

    /// Whether the worker has ended (stopped, failed or panicked).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the worker to stop: each partition it leads finishes its batch and is released, at
    /// once, to the other workers; then it gives up its slot. Says whether it stopped cleanly or
    /// one of its partitions had failed (with the first error).
    pub async fn stop(self) -> RunnerExit {
        self.stop.send_replace(true);
        RunnerExit::of(self.join().await)
    }

    /// Waits for the worker to end by itself: it only does on an error.
    pub async fn join(self) -> Result<(), ProjectionError> {
        let projection = self.name();
        outcome(self.task, projection).await
    }

    /// Ends the worker and its partitions' runners at once, as a crash would. For tests.
    pub fn abort(self) {
        self.task.abort();
    }
}
