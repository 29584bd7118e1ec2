//! The handle of a spawned consumer: its status, read-your-writes waits, stopping it.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::ConsumerError;
use super::wait::wait_for_stream;
use crate::core::projection::Projection;
use crate::core::query::Query;
use crate::core::read_store::{DeadLetter, ReadStore};
use crate::core::store::Receipt;
use crate::core::tenant::Tenant;
use crate::read::read_side::{answer, QueryError};
use crate::read::runner::panic_message;
use crate::read::status::RunnerState;

/// What the consumer's task shares with its handle.
pub(super) struct Shared {
    observed: Mutex<Observed>,
    /// Bumped after every commit, to wake in-process waiters.
    pub(super) progress: watch::Sender<u64>,
}

#[derive(Default)]
pub(super) struct Observed {
    pub(super) state: Option<RunnerState>,
    pub(super) leader: bool,
    /// Whether it holds a subscription at the broker now.
    pub(super) subscribed: bool,
    pub(super) last_error: Option<String>,
    /// Messages waiting at the broker when last asked, and when that was.
    pub(super) backlog: Option<(u64, DateTime<Utc>)>,
    pub(super) applied: u64,
    pub(super) duplicates: u64,
    pub(super) poisoned: u64,
}

impl Shared {
    pub(super) fn new() -> Self {
        Self {
            observed: Mutex::new(Observed::default()),
            progress: watch::channel(0).0,
        }
    }

    pub(super) fn observed(&self) -> MutexGuard<'_, Observed> {
        // Only plain assignments happen under the lock: a poisoned one is still consistent.
        self.observed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where a consumer's read model stands, and what this consumer is doing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConsumerStatus {
    /// The consumer's name.
    pub consumer: &'static str,
    /// The broker and its address.
    pub broker: String,
    /// The projection's [`VERSION`](crate::Projection::VERSION).
    pub version: u32,
    /// The version the stored read model was built with, if it has a row yet.
    pub stored_version: Option<u32>,
    /// The global position of the furthest event applied (in the order the relay published);
    /// `None` before the first.
    pub position: Option<u64>,
    /// When that event was recorded in the log.
    pub last_recorded_at: Option<DateTime<Utc>>,
    /// Messages waiting at the broker, not yet handed to the consumer, when last asked (while it
    /// leads); `None` when not known.
    pub backlog: Option<u64>,
    /// How far behind the log the read model is in time: how long ago the furthest event applied
    /// was recorded, while messages wait at the broker; zero when none waits.
    pub lag: Duration,
    /// What this consumer is doing.
    pub state: RunnerState,
    /// Whether this consumer is the active one of its name.
    pub leader: bool,
    /// The last error it met (kept after it recovered, for diagnosis).
    pub last_error: Option<String>,
    /// Events this consumer applied since it started.
    pub applied: u64,
    /// Messages it recognised as already applied (redeliveries, re-publishes) and acknowledged
    /// without applying, since it started.
    pub duplicates: u64,
    /// Poison messages it dead-lettered or rejected since it started.
    pub poisoned: u64,
}

/// How a consumer ended, as [`ConsumerHandle::stop`] reports it.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConsumerExit {
    /// It stopped on request, cleanly.
    Stopped,
    /// It had already ended on an error before it was asked to stop (or it panicked).
    Failed(ConsumerError),
}

impl ConsumerExit {
    /// The consumer's failure as an error, for `?`: `Ok` when it stopped cleanly.
    pub fn into_result(self) -> Result<(), ConsumerError> {
        match self {
            ConsumerExit::Stopped => Ok(()),
            ConsumerExit::Failed(error) => Err(error),
        }
    }
}

/// Controls and observes a spawned [`Consumer`](crate::Consumer).
pub struct ConsumerHandle<P: Projection> {
    pub(super) name: &'static str,
    pub(super) broker: String,
    pub(super) shared: Arc<Shared>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) task: JoinHandle<Result<(), ConsumerError>>,
    pub(super) store: P::Store,
    pub(super) projection: Arc<P>,
}

impl<P: Projection> fmt::Debug for ConsumerHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let observed = self.shared.observed();
        f.debug_struct("ConsumerHandle")
            .field("consumer", &self.name)
            .field("broker", &self.broker)
            .field("state", &observed.state)
            .field("leader", &observed.leader)
            .finish_non_exhaustive()
    }
}

impl<P: Projection> ConsumerHandle<P> {
    /// The consumer's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether this consumer is the active one of its name.
    pub fn is_leader(&self) -> bool {
        self.shared.observed().leader
    }

    /// Whether this consumer holds a subscription at the broker now (it leads, and its queue or
    /// durable consumer exists).
    pub fn is_subscribed(&self) -> bool {
        self.shared.observed().subscribed
    }

    /// Waits until this consumer leads and has subscribed: from then on, a RabbitMQ queue of its
    /// name exists and is bound, so nothing published passes it by (a queue keeps only what is
    /// published after it exists). Fails with [`ConsumerError::NotSubscribed`] after `timeout`,
    /// with the last error met (a broker away), or [`ConsumerError::Stopped`] if it ended.
    pub async fn wait_until_subscribed(&self, timeout: Duration) -> Result<(), ConsumerError> {
        let started = tokio::time::Instant::now();
        let mut progress = self.shared.progress.subscribe();
        loop {
            if self.is_subscribed() {
                return Ok(());
            }
            if self.task.is_finished() {
                return Err(ConsumerError::Stopped { consumer: self.name });
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(ConsumerError::NotSubscribed {
                    consumer: self.name,
                    waited,
                    last_error: self.shared.observed().last_error.clone(),
                });
            }
            let nap = (timeout - waited).min(Duration::from_millis(5));
            let _ = tokio::time::timeout(nap, progress.changed()).await;
        }
    }

    /// Where the read model stands and what this consumer is doing.
    pub async fn status(&self) -> Result<ConsumerStatus, ConsumerError> {
        let row = self.store.read_consumer(self.name).await?;
        let observed = self.shared.observed();
        let version = self.projection.identity().version;
        let current = row.filter(|row| row.version == version);
        let last_recorded_at = current.and_then(|row| row.last_recorded_at);
        let backlog = observed.backlog.map(|(count, _)| count);
        let lag = match (backlog, last_recorded_at) {
            (Some(waiting), Some(at)) if waiting > 0 => (Utc::now() - at).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        };
        Ok(ConsumerStatus {
            consumer: self.name,
            broker: self.broker.clone(),
            version,
            stored_version: row.map(|row| row.version),
            position: current
                .map(|row| row.checkpoint.position)
                .filter(|position| *position > 0),
            last_recorded_at,
            backlog,
            lag,
            state: observed.state.unwrap_or(RunnerState::Starting),
            leader: observed.leader,
            last_error: observed.last_error.clone(),
            applied: observed.applied,
            duplicates: observed.duplicates,
            poisoned: observed.poisoned,
        })
    }

    /// Waits until the read model has applied the command behind `receipt` (its stream, up to
    /// its version), whichever consumer of the name applies it: read-your-writes across
    /// services. A receipt of a command that recorded nothing is ready at once. Fails with
    /// [`ConsumerError::Timeout`] after `timeout`.
    pub async fn wait_for(&self, receipt: &Receipt, timeout: Duration) -> Result<(), ConsumerError> {
        wait_for_stream(
            &self.store,
            self.name,
            receipt,
            timeout,
            Some(self.shared.progress.subscribe()),
        )
        .await
    }

    /// Answers `query` from the consumer's read model as it is now (call
    /// [`wait_for`](Self::wait_for) first for an answer that includes a command of yours).
    pub async fn query<Q>(&self, query: &Q) -> Result<Q::Output, QueryError>
    where
        Q: Query<ReadModel = P>,
    {
        answer(&self.store, &*self.projection, query, &Tenant::none()).await
    }

    /// The dead letters of the projection's current version.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, ConsumerError> {
        let version = self.projection.identity().version;
        Ok(self.store.dead_letters(self.name, version).await?)
    }

    /// Whether the consumer has ended (stopped, failed or panicked).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the consumer to stop after its current batch, releases its leadership, and waits
    /// for it. Messages it received and did not apply stay with the broker for the next one.
    pub async fn stop(self) -> ConsumerExit {
        self.stop.send_replace(true);
        match self.join().await {
            Ok(()) => ConsumerExit::Stopped,
            Err(error) => ConsumerExit::Failed(error),
        }
    }

    /// Waits for the consumer to end by itself: it only does on an error.
    pub async fn join(self) -> Result<(), ConsumerError> {
        let consumer = self.name;
        match self.task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => Err(ConsumerError::Panicked {
                consumer,
                message: panic_message(error.into_panic().as_ref()),
            }),
            Err(_cancelled) => Err(ConsumerError::Stopped { consumer }),
        }
    }

    /// Ends the consumer at once, as a crash would. For tests and emergencies; prefer
    /// [`stop`](Self::stop).
    pub fn abort(self) {
        self.task.abort();
    }
}

/// Waits until the read model `consumer` keeps in `store` has applied the command behind
/// `receipt`: read-your-writes for a process that shares only the read store (another instance
/// of the consuming service, say). See [`ConsumerHandle::wait_for`].
pub async fn wait_for_consumer<R: ReadStore>(
    store: &R,
    consumer: &str,
    receipt: &Receipt,
    timeout: Duration,
) -> Result<(), ConsumerError> {
    wait_for_stream(store, consumer, receipt, timeout, None).await
}
