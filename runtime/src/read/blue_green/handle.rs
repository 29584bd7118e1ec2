//! The handle of a blue/green runner: observe it, stop it.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::status::{blue_green_status, BlueGreenStatus};
use crate::core::location::Locations;
use crate::core::projection::{Identity, Projection};
use crate::core::source::EventSource;
use crate::read::error::ProjectionError;
use crate::read::runner::{outcome, RunnerExit};
use crate::read::status::RunnerState;

/// What the supervisor's task shares with its handle.
pub(super) struct Shared<R> {
    /// The location, once opened.
    pub(super) location: OnceLock<R>,
    observed: Mutex<Observed>,
}

/// What the supervisor saw at its last check.
#[derive(Clone)]
pub(super) struct Observed {
    /// The location's runner's state and role.
    pub(super) state: RunnerState,
    pub(super) leader: bool,
    /// The most recent error of the runner or the supervisor.
    pub(super) last_error: Option<String>,
    /// Checks done: each records progress, considers the switch and looks at older locations.
    pub(super) checks: u64,
}

impl<R> Shared<R> {
    pub(super) fn new() -> Self {
        Self {
            location: OnceLock::new(),
            observed: Mutex::new(Observed {
                state: RunnerState::Starting,
                leader: false,
                last_error: None,
                checks: 0,
            }),
        }
    }

    pub(super) fn observed(&self) -> MutexGuard<'_, Observed> {
        // Only plain assignments happen under the lock: a poisoned one is still consistent.
        self.observed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Controls and observes a spawned [`BlueGreenRunner`](crate::BlueGreenRunner).
pub struct BlueGreenHandle<P: Projection, S> {
    shared: Arc<Shared<P::Store>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), ProjectionError>>,
    source: S,
    base: P::Store,
}

impl<P: Projection, S> fmt::Debug for BlueGreenHandle<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let observed = self.shared.observed();
        f.debug_struct("BlueGreenHandle")
            .field("projection", &P::NAME)
            .field("version", &P::VERSION)
            .field("state", &observed.state)
            .finish_non_exhaustive()
    }
}

impl<P: Projection, S: EventSource> BlueGreenHandle<P, S>
where
    P::Store: Locations,
{
    pub(super) fn new(
        shared: Arc<Shared<P::Store>>,
        stop: watch::Sender<bool>,
        task: JoinHandle<Result<(), ProjectionError>>,
        source: S,
        base: P::Store,
    ) -> Self {
        Self {
            shared,
            stop,
            task,
            source,
            base,
        }
    }

    /// Where the projection stands: the live version, the one this deployment reads, and how far
    /// its location (and every registered one) got, with its runner's role, state and last error.
    pub async fn status(&self) -> Result<BlueGreenStatus, ProjectionError> {
        let location = match self.shared.location.get() {
            Some(location) => location.clone(),
            None => self.base.at_location(P::NAME, P::VERSION).await?,
        };
        let mut status = blue_green_status(&self.source, &self.base, &location, Identity::of::<P>()).await?;
        let observed = self.shared.observed().clone();
        status.location.state = observed.state;
        status.location.leader = observed.leader;
        status.location.last_error = observed.last_error;
        Ok(status)
    }

    /// How many checks the runner has done: each records the location's progress, considers the
    /// switch and looks at older locations. What a test waits on to know that a check happened
    /// after something it did.
    pub fn checks(&self) -> u64 {
        self.shared.observed().checks
    }

    /// What the location's runner is doing, as of the last check.
    pub fn state(&self) -> RunnerState {
        self.shared.observed().state
    }

    /// Whether the runner has ended (stopped, failed or panicked).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the runner to stop, stops the location's runner (releasing its claim: an older
    /// location is dropped only once no runner of it holds that claim), and waits for both.
    pub async fn stop(self) -> RunnerExit {
        self.stop.send_replace(true);
        RunnerExit::of(outcome(self.task, P::NAME).await)
    }
}
