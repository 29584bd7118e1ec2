//! The blue/green runner's task: open the version's location, run an ordinary runner there, and
//! every check record its progress, switch the live pointer to it once it has caught up, and drop
//! older locations once they are retired.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::handle::Shared;
use super::locations::LocationCache;
use super::status::caught_up;
use crate::core::error::error_chain;
use crate::core::location::Locations;
use crate::core::projection::{Identity, Projection};
use crate::core::read_store::check_name;
use crate::core::read_store::{CheckpointRow, ReadStore, ReadStoreError, ReadTransaction};
use crate::core::source::{Checkpoint, EventSource};
use crate::read::error::ProjectionError;
use crate::read::layout::{live_name, location_name, location_version};
use crate::read::runner::{ProjectionHandle, ProjectionRunner};
use crate::read::status::RunnerState;

/// The longest pause before opening a location again after the store could not be reached.
const REOPEN_MAX: Duration = Duration::from_secs(1);

pub(super) struct Supervisor<P: Projection, S> {
    runner: Option<ProjectionRunner<P, S>>,
    source: S,
    base: P::Store,
    grace: Duration,
    check_every: Duration,
    shared: Arc<Shared<P::Store>>,
    stop: watch::Receiver<bool>,
    /// A session on the base store for the fenced updates of the marker rows.
    session: Option<<P::Store as ReadStore>::Session>,
    /// The registration row of this version's location as last read or written.
    registered: Option<CheckpointRow>,
    /// Older locations seen with no runner holding their claim, and since when (without a break).
    unheld_since: HashMap<u32, Instant>,
    /// Older locations, opened to ask who holds their claim.
    older: LocationCache<P::Store>,
}

impl<P: Projection, S: EventSource> Supervisor<P, S>
where
    P::Store: Locations,
{
    pub(super) fn new(
        runner: ProjectionRunner<P, S>,
        grace: Duration,
        check_every: Duration,
        shared: Arc<Shared<P::Store>>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            source: runner.source().clone(),
            base: runner.store().clone(),
            runner: Some(runner),
            grace,
            check_every,
            shared,
            stop,
            session: None,
            registered: None,
            unheld_since: HashMap::new(),
            older: LocationCache::default(),
        }
    }

    fn name(&self) -> &'static str {
        P::NAME
    }

    pub(super) async fn run(mut self) -> Result<(), ProjectionError> {
        tracing::info!("blue/green runner started");
        check_name("projection", P::NAME)?;
        let Some(location) = self.open().await? else {
            return Ok(());
        };
        let Some(runner) = self.runner.take() else {
            return Ok(());
        };
        let handle = runner.in_store(location.clone()).spawn();
        let result = self.supervise(&location, &handle).await;
        let exit = handle.stop().await.into_result();
        if let Some(session) = self.session.take() {
            P::Store::close(session).await;
        }
        // The location's runner's own failure says more than that it ended.
        let result = exit.and(result);
        let mut observed = self.shared.observed();
        observed.leader = false;
        match &result {
            Ok(()) => {
                observed.state = RunnerState::Stopped;
                tracing::info!("blue/green runner stopped");
            }
            Err(error) => {
                observed.state = RunnerState::Failed;
                observed.last_error = Some(error_chain(error));
                tracing::error!(error = %error_chain(error), "blue/green runner failed");
            }
        }
        drop(observed);
        result
    }

    /// Opens (creates) the version's location, retrying while the store cannot be reached;
    /// `None` when asked to stop first.
    async fn open(&mut self) -> Result<Option<P::Store>, ProjectionError> {
        let mut pause = Duration::from_millis(10);
        loop {
            match self.base.at_location(self.name(), P::VERSION).await {
                Ok(location) => {
                    let _ = self.shared.location.set(location.clone());
                    return Ok(Some(location));
                }
                Err(error) if error.is_transient() => {
                    tracing::warn!(error = %error_chain(&error), "cannot open the location; trying again");
                    self.shared.observed().last_error = Some(error_chain(&error));
                }
                Err(error) => return Err(error.into()),
            }
            if self.pause(pause).await {
                return Ok(None);
            }
            pause = (pause * 2).min(REOPEN_MAX);
        }
    }

    /// Checks every interval until asked to stop, or until the location's runner ends by itself
    /// (on an error, which this returns).
    async fn supervise(
        &mut self,
        location: &P::Store,
        handle: &ProjectionHandle<P, S>,
    ) -> Result<(), ProjectionError> {
        loop {
            if handle.is_finished() {
                return Err(ProjectionError::Stopped {
                    projection: self.name(),
                });
            }
            match self.check(location).await {
                Ok(()) => {}
                Err(error) if error.is_transient() => {
                    tracing::warn!(error = %error_chain(&error), "blue/green check failed; trying again");
                    self.shared.observed().last_error = Some(error_chain(&error));
                    if let Some(session) = self.session.take() {
                        P::Store::close(session).await;
                    }
                }
                Err(error) => return Err(error),
            }
            {
                let mut observed = self.shared.observed();
                observed.state = handle.state();
                observed.leader = handle.is_leader();
                observed.checks += 1;
            }
            if self.pause(self.check_every).await {
                return Ok(());
            }
        }
    }

    /// One check: record progress, switch if caught up, retire older locations.
    async fn check(&mut self, location: &P::Store) -> Result<(), ProjectionError> {
        self.record_progress(location).await?;
        let live = self.base.read_checkpoint(live_name(self.name())).await?;
        let live = match live {
            Some(row) if row.version >= P::VERSION => Some(row),
            older => {
                if !caught_up(&self.source, location, Identity::of::<P>()).await? {
                    return Ok(());
                }
                let next = CheckpointRow {
                    version: P::VERSION,
                    checkpoint: Checkpoint::START,
                };
                if !self.compare_and_set(live_name(self.name()), older, next).await? {
                    // Another deployment moved the pointer first: look again next check.
                    return Ok(());
                }
                tracing::info!(from = ?older.map(|row| row.version), "caught up; this version is live now");
                Some(next)
            }
        };
        if live.is_some_and(|row| row.version == P::VERSION) {
            self.retire_older().await?;
        }
        Ok(())
    }

    /// Mirrors the location's checkpoint into its registration row in the base store (creating
    /// the row on the first check), for operators' tools.
    async fn record_progress(&mut self, location: &P::Store) -> Result<(), ProjectionError> {
        let name = location_name(self.name(), P::VERSION);
        if self.registered.is_none() {
            self.registered = self.base.read_checkpoint(name).await?;
        }
        let checkpoint = location
            .read_checkpoint(self.name())
            .await?
            .filter(|row| row.version == P::VERSION)
            .map_or(Checkpoint::START, |row| row.checkpoint);
        let next = CheckpointRow {
            version: P::VERSION,
            checkpoint,
        };
        if self.registered == Some(next) {
            return Ok(());
        }
        if self.compare_and_set(name, self.registered, next).await? {
            self.registered = Some(next);
        } else {
            // Another process of this version recorded it: read it again next check.
            self.registered = None;
        }
        Ok(())
    }

    /// Drops each older version's location once it has been unheld (no runner of it holding its
    /// claim) for the whole grace period, and forgets its registration.
    async fn retire_older(&mut self) -> Result<(), ProjectionError> {
        let older: Vec<u32> = self
            .base
            .checkpoints()
            .await?
            .iter()
            .filter_map(|(name, _)| location_version(self.name(), name))
            .filter(|version| *version < P::VERSION)
            .collect();
        self.unheld_since.retain(|version, _| older.contains(version));
        for version in older {
            let store = self.older.store(&self.base, self.name(), version).await?;
            if let Some(holder) = store.holder(self.name()).await? {
                tracing::debug!(version, %holder, "an older version still runs; keeping its location");
                self.unheld_since.remove(&version);
                continue;
            }
            let since = *self.unheld_since.entry(version).or_insert_with(Instant::now);
            if since.elapsed() < self.grace {
                continue;
            }
            self.older.forget(self.name(), version);
            drop(store);
            self.base.drop_location(self.name(), version).await?;
            self.base
                .delete_checkpoint(location_name(self.name(), version))
                .await?;
            self.unheld_since.remove(&version);
            tracing::info!(version, "dropped the location of a retired version");
        }
        Ok(())
    }

    /// Moves the base store's row `name` from `previous` to `next`, fenced, in a transaction of
    /// its own on the supervisor's session (opened again after a failure).
    async fn compare_and_set(
        &mut self,
        name: &str,
        previous: Option<CheckpointRow>,
        next: CheckpointRow,
    ) -> Result<bool, ReadStoreError> {
        let session = match &mut self.session {
            Some(session) => session,
            None => self.session.insert(self.base.connect().await?),
        };
        let mut tx = P::Store::begin(session).await?;
        let moved = self
            .base
            .save_checkpoint(tx.connection(), name, previous, next)
            .await?;
        if moved {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(moved)
    }

    /// Sleeps, unless asked to stop; `true` when asked to stop.
    async fn pause(&mut self, duration: Duration) -> bool {
        if *self.stop.borrow_and_update() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => false,
            changed = self.stop.changed() => match changed {
                Ok(()) => *self.stop.borrow(),
                // The handle is gone without asking: the runner runs on, as a plain one does.
                Err(_) => {
                    tokio::time::sleep(duration).await;
                    false
                }
            },
        }
    }
}
