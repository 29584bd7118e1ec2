//! The handle of a spawned runner: observe it, wait for it, rebuild through it, stop it.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::core::projection::Projection;
use crate::core::read_store::{DeadLetter, ReadStore};
use crate::core::source::{Checkpoint, EventSource};
use crate::read::error::ProjectionError;
use crate::read::status::{status_of, ProjectionStatus, RunnerState};
use crate::read::wait::wait_for_checkpoint;

/// What the handle asks of the runner's task.
pub(super) enum Request {
    Rebuild(oneshot::Sender<Result<(), ProjectionError>>),
}

/// What the runner's task shares with its handle.
pub(super) struct Shared {
    observed: Mutex<Observed>,
    /// The checkpoint last committed, for in-process waiters.
    pub(super) progress: watch::Sender<Checkpoint>,
}

pub(super) struct Observed {
    pub(super) state: RunnerState,
    pub(super) leader: bool,
    pub(super) last_error: Option<String>,
}

impl Shared {
    pub(super) fn new() -> Self {
        Self {
            observed: Mutex::new(Observed {
                state: RunnerState::Starting,
                leader: false,
                last_error: None,
            }),
            progress: watch::channel(Checkpoint::START).0,
        }
    }

    pub(super) fn observed(&self) -> MutexGuard<'_, Observed> {
        // Only plain assignments happen under the lock: a poisoned one is still consistent.
        self.observed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether a runner leads now, for whoever must count the runners of a process that lead (a
/// partitioned projection's worker).
#[derive(Clone)]
pub(crate) struct LeaderFlag(Arc<Shared>);

impl LeaderFlag {
    pub(crate) fn is_leader(&self) -> bool {
        self.0.observed().leader
    }
}

/// How a runner ended, as [`ProjectionHandle::stop`] reports it.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunnerExit {
    /// It stopped on request, cleanly.
    Stopped,
    /// It had already ended on an error before it was asked to stop (or it panicked).
    Failed(ProjectionError),
}

impl RunnerExit {
    /// How a task that ended with `result` ended.
    pub(crate) fn of(result: Result<(), ProjectionError>) -> Self {
        match result {
            Ok(()) => RunnerExit::Stopped,
            Err(error) => RunnerExit::Failed(error),
        }
    }

    /// The runner's failure as an error, for `?`: `Ok` when it stopped cleanly.
    pub fn into_result(self) -> Result<(), ProjectionError> {
        match self {
            RunnerExit::Stopped => Ok(()),
            RunnerExit::Failed(error) => Err(error),
        }
    }
}

/// Controls and observes a spawned [`ProjectionRunner`](crate::ProjectionRunner).
pub struct ProjectionHandle<P: Projection, S> {
    pub(super) shared: Arc<Shared>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) requests: mpsc::Sender<Request>,
    pub(super) task: JoinHandle<Result<(), ProjectionError>>,
    pub(super) source: S,
    pub(super) store: P::Store,
    pub(super) projection: Arc<P>,
}

impl<P: Projection, S> fmt::Debug for ProjectionHandle<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let observed = self.shared.observed();
        f.debug_struct("ProjectionHandle")
            .field("projection", &self.projection.identity().name)
            .field("state", &observed.state)
            .field("leader", &observed.leader)
            .finish_non_exhaustive()
    }
}

impl<P: Projection, S: EventSource> ProjectionHandle<P, S> {
    /// The name the runner's projection is stored under.
    pub fn name(&self) -> &'static str {
        self.projection.identity().name
    }

    /// This runner's leadership, to be read where the handle is not.
    pub(crate) fn leader_flag(&self) -> LeaderFlag {
        LeaderFlag(self.shared.clone())
    }

    /// Whether this runner is the projection's active one.
    pub fn is_leader(&self) -> bool {
        self.shared.observed().leader
    }

    /// What this runner is doing.
    pub fn state(&self) -> RunnerState {
        self.shared.observed().state
    }

    /// Where the projection stands: how far its read model got, what it has yet to apply, and
    /// this runner's role and last error.
    pub async fn status(&self) -> Result<ProjectionStatus, ProjectionError> {
        let mut status = status_of(&self.source, &self.store, self.projection.identity()).await?;
        let observed = self.shared.observed();
        status.leader = observed.leader;
        status.state = observed.state;
        status.last_error = observed.last_error.clone();
        Ok(status)
    }

    /// Waits until the read model includes the event at global `position` (a
    /// [`Receipt`](crate::Receipt)'s), whichever runner applies it: read-your-writes. `None`
    /// (the command recorded nothing) is ready at once. Fails with [`ProjectionError::Timeout`]
    /// after `timeout`, saying what the read model had reached; a store that is away for less
    /// than the timeout only delays the answer.
    pub async fn wait_for(&self, position: Option<u64>, timeout: Duration) -> Result<(), ProjectionError> {
        wait_for_checkpoint(
            &self.source,
            &self.store,
            self.projection.identity(),
            position,
            None,
            timeout,
            Some(self.shared.progress.subscribe()),
        )
        .await
    }

    /// Waits until the read model has caught up with every event stored now.
    pub async fn wait_until_caught_up(&self, timeout: Duration) -> Result<(), ProjectionError> {
        let head = self.source.head().await?;
        self.wait_for(head.position, timeout).await
    }

    /// Empties the read model ([`Projection::reset`]) and replays it from the first event. The
    /// reset and the checkpoint's return to the start commit together; this returns then, and
    /// the replay goes on in the background (see [`wait_until_caught_up`](Self::wait_until_caught_up)).
    /// Dead letters stay until the replay applies their event (then they are deleted) or fails
    /// on it again.
    ///
    /// Only the active runner can rebuild: on a standby one this fails with
    /// [`ProjectionError::NotLeader`].
    pub async fn rebuild(&self) -> Result<(), ProjectionError> {
        let projection = self.name();
        let stopped = || ProjectionError::Stopped { projection };
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Rebuild(reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The dead letters of the projection's current version.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, ProjectionError> {
        let identity = self.projection.identity();
        Ok(self.store.dead_letters(identity.name, identity.version).await?)
    }

    /// Whether the runner has ended (stopped, failed or panicked).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the runner to stop after its current batch, releases its leadership, and waits for
    /// it. Says whether it stopped cleanly or had already failed (with the error it failed with).
    pub async fn stop(self) -> RunnerExit {
        self.stop.send_replace(true);
        RunnerExit::of(self.join().await)
    }

    /// Waits for the runner to end by itself: it only does on an error.
    pub async fn join(self) -> Result<(), ProjectionError> {
        let projection = self.name();
        outcome(self.task, projection).await
    }

    /// Ends the runner at once, wherever it is, as a crash would: its transaction and
    /// connection are dropped uncommitted. For tests and emergencies; prefer
    /// [`stop`](Self::stop).
    pub fn abort(self) {
        self.task.abort();
    }
}

/// What a runner's (or a worker's) task of `projection` ended with, a panic or a cancellation
/// included.
pub(crate) async fn outcome(
    task: JoinHandle<Result<(), ProjectionError>>,
    projection: &'static str,
) -> Result<(), ProjectionError> {
    match task.await {
        Ok(result) => result,
        Err(error) if error.is_panic() => Err(ProjectionError::Panicked {
            projection,
            message: panic_message(error.into_panic().as_ref()),
        }),
        Err(_cancelled) => Err(ProjectionError::Stopped { projection }),
    }
}

/// The message of a panic's payload.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}
