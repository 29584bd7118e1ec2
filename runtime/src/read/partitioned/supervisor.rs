//! A partitioned projection's worker: its slot among the workers, the layout it sets up once,
//! and the share of partitions it leads, handed over when workers join and leave.
//!
//! Every worker runs a standby runner for every partition; a runner may only try to lead while
//! its worker leads fewer partitions than its share. The share follows from the number of live
//! workers and this one's rank among them: worker slots are claims in the read store (a
//! Postgres advisory lock on the worker's session, a SQLite or Redis lease), probed each poll
//! interval. A worker above its share stops the runner of one partition (which releases it) and
//! starts a fresh standby in its place; a worker below its share lets its standbys take the
//! partitions nobody leads.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::handle::Shared;
use super::partition_of::{PartitionOf, Settings};
use crate::core::error::error_chain;
use crate::core::partition::Partition;
use crate::core::projection::Projection;
use crate::core::read_store::check_name;
use crate::core::read_store::{CheckpointRow, DeadLetters, ReadStore, ReadTransaction};
use crate::core::source::{Checkpoint, EventSource};
use crate::read::error::ProjectionError;
use crate::read::layout::{count_of, marker, marker_name, partition_name, setup_name, worker_name};
use crate::read::runner::{ProjectionHandle, ProjectionRunner, RunnerExit};

/// The most workers one partitioned projection can have.
pub(crate) const MAX_WORKERS: u32 = 64;

/// Free slots probed past the last live one before the count stops: workers take the lowest
/// free slot, so the live ones sit at the bottom, with holes only where one left.
const FREE_SLOTS_PROBED: u32 = 3;

/// How long after finding a slot held it is probed again (see `is_held`).
const PROBE_AGAIN: Duration = Duration::from_millis(5);

pub(crate) struct Supervisor<P: Projection, S> {
    pub(super) source: S,
    pub(super) store: P::Store,
    pub(super) projection: Arc<P>,
    pub(super) count: u32,
    pub(super) settings: Settings,
    pub(super) owner: Uuid,
    pub(super) shared: Arc<Shared>,
    pub(super) stop: watch::Receiver<bool>,
}

/// This worker's slot among the projection's workers, held on a session of its own.
struct Member<R: ReadStore> {
    session: R::Session,
    slot: u32,
    renewed: Instant,
}

/// The partitions' runners of this worker, by partition index. Dropped (the worker's task
/// aborted), it aborts them too, as a crash of the process would.
struct Runners<P: Projection, S: EventSource>(Vec<Option<ProjectionHandle<PartitionOf<P>, S>>>);

impl<P: Projection, S: EventSource> Drop for Runners<P, S> {
    fn drop(&mut self) {
        for handle in self.0.iter_mut().filter_map(Option::take) {
            handle.abort();
        }
    }
}

/// How many of `count` partitions the worker of `rank` among `workers` leads: an equal share,
/// the lowest ranks one more while some are left over.
pub(crate) fn share(count: u32, workers: u32, rank: u32) -> u32 {
    let workers = workers.max(1);
    count / workers + u32::from(rank < count % workers)
}

impl<P: Projection, S: EventSource> Supervisor<P, S> {
    fn name(&self) -> &'static str {
        self.projection.identity().name
    }

    pub(super) async fn run(mut self) -> Result<(), ProjectionError> {
        check_name("projection", self.name())?;
        let mut runners = Runners::<P, S>((0..self.count).map(|_| None).collect());
        let mut member: Option<Member<P::Store>> = None;
        let mut ready = false;
        let mut failure = None;
        let mut pause = self.settings.retry.backoff.max(Duration::from_millis(10));
        while !*self.stop.borrow() {
            match self.tick(&mut member, &mut ready, &mut runners).await {
                Ok(()) => {
                    pause = self.settings.retry.backoff.max(Duration::from_millis(10));
                }
                Err(error) if error.is_transient() => {
                    tracing::warn!(error = %error_chain(&error), "partitioned worker: store unavailable; retrying");
                    self.shared.set_error(Some(error_chain(&error)));
                    if let Some(lost) = member.take() {
                        P::Store::close(lost.session).await;
                    }
                    self.shared.set_share(None, 0, 0);
                    self.sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                    continue;
                }
                Err(error) => {
                    self.shared.set_error(Some(error_chain(&error)));
                    failure = Some(error);
                    break;
                }
            }
            if let Some(error) = self.reap(&mut runners).await {
                self.shared.set_error(Some(error_chain(&error)));
                failure = Some(error);
                break;
            }
            self.sleep(self.settings.poll_interval).await;
        }
        // Stopping: every partition's runner finishes its batch and releases its partition; the
        // slot goes last, so that peers count this worker until its partitions are free.
        self.shared.set_share(None, 0, 0);
        for (index, handle) in runners.0.iter_mut().enumerate() {
            if let Some(handle) = handle.take() {
                if let RunnerExit::Failed(error) = handle.stop().await {
                    if failure.is_none() && !matches!(error, ProjectionError::Stopped { .. }) {
                        failure = Some(error);
                    }
                }
                self.shared.set_runner(
                    Partition {
                        index: index as u32,
                        count: self.count,
                    },
                    None,
                );
            }
        }
        if let Some(mut member) = member.take() {
            let _ = self
                .store
                .release_lead(
                    &mut member.session,
                    worker_name(self.name(), member.slot),
                    self.owner,
                )
                .await;
            P::Store::close(member.session).await;
        }
        failure.map_or(Ok(()), Err)
    }

    /// One look at the peers: keep the slot, set the layout up once, count the workers, and
    /// hand a partition over when above the share.
    async fn tick(
        &mut self,
        member: &mut Option<Member<P::Store>>,
        ready: &mut bool,
        runners: &mut Runners<P, S>,
    ) -> Result<(), ProjectionError> {
        if member.is_none() {
            self.source.prepare_partitions(self.count).await?;
            let mut session = self.store.connect().await?;
            match self.take_slot(&mut session).await {
                Ok(slot) => {
                    tracing::info!(slot, "partitioned worker joined");
                    *member = Some(Member {
                        session,
                        slot,
                        renewed: Instant::now(),
                    });
                }
                Err(error) => {
                    P::Store::close(session).await;
                    return Err(error);
                }
            }
        }
        let Some(current) = member.as_mut() else {
            return Ok(());
        };
        let slot_name = worker_name(self.name(), current.slot);
        if current.renewed.elapsed() >= self.settings.lease / 3 {
            if !self
                .store
                .keep_lead(&mut current.session, slot_name, self.owner, self.settings.lease)
                .await?
            {
                tracing::warn!(
                    slot = current.slot,
                    "partitioned worker lost its slot; joining again"
                );
                if let Some(lost) = member.take() {
                    P::Store::close(lost.session).await;
                }
                return Ok(());
            }
            current.renewed = Instant::now();
        }
        if !*ready {
            if !self.ensure_layout(&mut current.session).await? {
                return Ok(());
            }
            *ready = true;
            for partition in Partition::all(self.count) {
                self.start(runners, partition);
            }
        }
        let (workers, rank) = self.peers(&mut current.session, current.slot).await?;
        let target = share(self.count, workers, rank);
        self.shared.set_share(Some(current.slot), workers, target);
        let led = self.shared.led();
        if led.len() as u32 > target {
            if let Some(&partition) = led.last() {
                tracing::info!(%partition, workers, target, "handing a partition over");
                self.restart(runners, partition).await;
            }
        }
        Ok(())
    }

    /// Starts a standby runner of `partition`.
    fn start(&self, runners: &mut Runners<P, S>, partition: Partition) {
        let handle = self.runner(partition).spawn();
        self.shared.set_runner(partition, Some(handle.leader_flag()));
        runners.0[partition.index as usize] = Some(handle);
    }

    /// Stops the runner of `partition` (releasing it to the other workers) and starts a fresh
    /// standby in its place.
    async fn restart(&self, runners: &mut Runners<P, S>, partition: Partition) {
        if let Some(handle) = runners.0[partition.index as usize].take() {
            self.shared.set_runner(partition, None);
            if let RunnerExit::Failed(error) = handle.stop().await {
                tracing::warn!(%partition, error = %error_chain(&error), "a partition's runner had failed");
            }
        }
        self.start(runners, partition);
    }

    /// The first error a partition's runner ended with, if one has: the worker ends with it, as
    /// an unpartitioned runner would.
    async fn reap(&self, runners: &mut Runners<P, S>) -> Option<ProjectionError> {
        for index in 0..runners.0.len() {
            if runners.0[index]
                .as_ref()
                .is_some_and(ProjectionHandle::is_finished)
            {
                let handle = runners.0[index].take()?;
                self.shared.set_runner(
                    Partition {
                        index: index as u32,
                        count: self.count,
                    },
                    None,
                );
                if let Err(error) = handle.join().await {
                    return Some(error);
                }
            }
        }
        None
    }

    /// The lowest free worker slot, claimed.
    async fn take_slot(
        &self,
        session: &mut <P::Store as ReadStore>::Session,
    ) -> Result<u32, ProjectionError> {
        for slot in 0..MAX_WORKERS {
            if self
                .store
                .try_lead(
                    session,
                    worker_name(self.name(), slot),
                    self.owner,
                    self.settings.lease,
                )
                .await?
            {
                return Ok(slot);
            }
        }
        Err(ProjectionError::TooManyWorkers {
            projection: self.name(),
            workers: MAX_WORKERS,
        })
    }

    /// How many workers are live (this one included), and how many of them hold a lower slot.
    async fn peers(
        &self,
        session: &mut <P::Store as ReadStore>::Session,
        own: u32,
    ) -> Result<(u32, u32), ProjectionError> {
        let (mut workers, mut rank, mut free_in_a_row) = (1, 0, 0);
        let mut slot = 0;
        while slot < MAX_WORKERS && (slot <= own || free_in_a_row < FREE_SLOTS_PROBED) {
            if slot != own {
                if self.is_held(session, slot).await? {
                    workers += 1;
                    rank += u32::from(slot < own);
                    free_in_a_row = 0;
                } else {
                    free_in_a_row += 1;
                }
            } else {
                free_in_a_row = 0;
            }
            slot += 1;
        }
        Ok((workers, rank))
    }

    /// Whether another worker holds `slot`. A probe takes a free slot for a moment (and gives it
    /// back at once), so a peer's probe can make a free slot look held: only a slot found held
    /// twice, a little apart, counts.
    async fn is_held(
        &self,
        session: &mut <P::Store as ReadStore>::Session,
        slot: u32,
    ) -> Result<bool, ProjectionError> {
        let name = worker_name(self.name(), slot);
        for attempt in 0..2 {
            if self
                .store
                .try_lead(session, name, self.owner, self.settings.lease)
                .await?
            {
                self.store.release_lead(session, name, self.owner).await?;
                return Ok(false);
            }
            if attempt == 0 {
                tokio::time::sleep(PROBE_AGAIN).await;
            }
        }
        Ok(true)
    }

    /// Makes sure the read model is built in this layout (this many partitions, this version):
    /// when it is not, the first worker to get there rebuilds it once, as soon as no runner of
    /// the old layout runs. `false` while it waits for that.
    async fn ensure_layout(
        &self,
        session: &mut <P::Store as ReadStore>::Session,
    ) -> Result<bool, ProjectionError> {
        let expected = marker(P::VERSION, self.count);
        if self.store.read_checkpoint(marker_name(self.name())).await? == Some(expected) {
            return Ok(true);
        }
        let setup = setup_name(self.name());
        if !self
            .store
            .try_lead(session, setup, self.owner, self.settings.lease)
            .await?
        {
            return Ok(false);
        }
        let result = self.set_up(session, expected).await;
        let _ = self.store.release_lead(session, setup, self.owner).await;
        result
    }

    /// Under the setup claim: takes the claims of the old layout's partitions and of the
    /// projection unpartitioned (so that none of their runners writes meanwhile), then resets
    /// the read model, starts every partition's checkpoint at the start and writes the marker,
    /// in one transaction.
    async fn set_up(
        &self,
        session: &mut <P::Store as ReadStore>::Session,
        expected: CheckpointRow,
    ) -> Result<bool, ProjectionError> {
        let name = self.name();
        let marker_name = marker_name(name);
        let current = self.store.load_checkpoint(session, marker_name).await?;
        if current == Some(expected) {
            return Ok(true);
        }
        let mut writers = vec![name];
        if let Some(old) = current.and_then(count_of) {
            writers.extend(Partition::all(old).map(|partition| partition_name(name, partition)));
        }
        let mut held = Vec::new();
        for writer in writers {
            if self
                .store
                .try_lead(session, writer, self.owner, self.settings.lease)
                .await?
            {
                held.push(writer);
            } else {
                tracing::info!(
                    runner = writer,
                    "waiting for the runners of the old layout to stop"
                );
                self.release(session, &held).await;
                return Ok(false);
            }
        }
        let result = self.rebuild(session, current, expected).await;
        self.release(session, &held).await;
        result
    }

    async fn rebuild(
        &self,
        session: &mut <P::Store as ReadStore>::Session,
        current: Option<CheckpointRow>,
        expected: CheckpointRow,
    ) -> Result<bool, ProjectionError> {
        let name = self.name();
        let unpartitioned = self.store.load_checkpoint(session, name).await?;
        let built_before = current.is_some() || unpartitioned.is_some();
        if built_before && !P::HAS_RESET {
            return Err(ProjectionError::VersionChanged {
                projection: name,
                stored: current.or(unpartitioned).map_or(P::VERSION, |row| row.version),
                current: P::VERSION,
            });
        }
        let mut partitions = Vec::with_capacity(self.count as usize);
        for partition in Partition::all(self.count) {
            let partition = partition_name(name, partition);
            partitions.push((partition, self.store.load_checkpoint(session, partition).await?));
        }
        let start = CheckpointRow {
            version: P::VERSION,
            checkpoint: Checkpoint::START,
        };
        let mut tx = P::Store::begin(session).await?;
        if P::HAS_RESET {
            if let Err(source) = self.projection.reset(tx.connection()).await {
                let _ = tx.rollback().await;
                return Err(ProjectionError::Reset {
                    projection: name,
                    source,
                });
            }
        }
        let marker_name = marker_name(name);
        let mut moved = true;
        for (partition, previous) in partitions {
            moved &= self
                .store
                .save_checkpoint(tx.connection(), partition, previous, start)
                .await?;
            self.store
                .delete_dead_letters(tx.connection(), partition, DeadLetters::NotOfVersion(P::VERSION))
                .await?;
        }
        moved &= self
            .store
            .save_checkpoint(tx.connection(), marker_name, current, expected)
            .await?;
        if !moved {
            // Another worker moved a row since it was read: look again next time.
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        tracing::info!(
            partitions = self.count,
            "read model reset for this layout; every partition replays from the start"
        );
        Ok(true)
    }

    async fn release(&self, session: &mut <P::Store as ReadStore>::Session, held: &[&'static str]) {
        for name in held {
            if let Err(error) = self.store.release_lead(session, name, self.owner).await {
                tracing::debug!(error = %error_chain(&error), "could not release a claim; it lapses");
            }
        }
    }

    /// Sleeps, unless asked to stop.
    async fn sleep(&mut self, duration: Duration) {
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            _ = self.stop.wait_for(|stop| *stop) => {}
        }
    }
}

impl<P: Projection, S: EventSource> Supervisor<P, S> {
    /// A standby runner of `partition`, kept from leading while this worker holds its share.
    fn runner(&self, partition: Partition) -> ProjectionRunner<PartitionOf<P>, S> {
        let shared = self.shared.clone();
        let settings = &self.settings;
        ProjectionRunner::new(
            self.source.clone(),
            self.store.clone(),
            PartitionOf {
                inner: self.projection.clone(),
                name: partition_name(self.projection.identity().name, partition),
                partition,
            },
        )
        .batch_size(settings.batch_size)
        .poll_interval(settings.poll_interval)
        .retry(settings.retry)
        .on_poison(settings.on_poison)
        .lease(settings.lease)
        .may_lead(Arc::new(move || shared.may_lead_one_more()))
        .owner(self.owner)
    }
}
