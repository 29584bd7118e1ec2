//! The projection runner: catch up from the checkpoint, follow the log live, exactly once.

use std::fmt;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::FutureExt;
use sqlx::Connection as _;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

use super::error::handler_error_transient;
use super::{
    apply_each, error_chain, BatchFailure, CheckpointRow, DeadLetter, PoisonEvent, Projection,
    ProjectionError, ReadStore,
};
use crate::error::StoreError;
use crate::store::RecordedEvent;
use crate::subscription::{AppendListener, Batch, Checkpoint, EventSource};

/// Events per batch unless [`ProjectionRunner::batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// How long an idle runner waits for a wake-up before polling anyway.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a SQLite lease lasts without renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// The first pause between polls of a checkpoint when waiting for it; it doubles up to
/// [`WAIT_POLL_MAX`].
const WAIT_POLL_MIN: Duration = Duration::from_millis(1);
const WAIT_POLL_MAX: Duration = Duration::from_millis(20);
/// After a wake-up that found nothing to read (the new events were not yet safe to deliver, say),
/// the runner polls again after this pause, doubling up to the poll interval.
const SETTLE_MIN: Duration = Duration::from_millis(2);
/// The least pause before trying again to listen for appends after failing to.
const LISTEN_RETRY: Duration = Duration::from_secs(5);

/// How a batch whose handler fails is tried again before the event counts as poison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a batch is tried in all (at least 1).
    pub attempts: u32,
    /// The pause after the first failure; it doubles after each further one.
    pub backoff: Duration,
    /// The longest pause, also between reconnection attempts when a store is unreachable.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 100 ms backoff doubling up to 10 s.
    fn default() -> Self {
        Self {
            attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// `attempts` tries in all, pausing `backoff` after the first failure and doubling, up to 10 s.
    pub fn new(attempts: u32, backoff: Duration) -> Self {
        Self {
            attempts: attempts.max(1),
            backoff,
            max_backoff: Duration::from_secs(10).max(backoff),
        }
    }

    /// The pause after the `failures`-th consecutive failure (from 1).
    fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// What the runner does with an event whose handler still fails after every retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnPoison {
    /// Stop the runner with [`ProjectionError::Poison`] naming the event; the checkpoint stays
    /// before it, so fixing the handler and restarting resumes there.
    #[default]
    Stop,
    /// Record the event in `chronicle_dead_letters`, in the transaction that moves the
    /// checkpoint past it, and go on with the next one.
    DeadLetter,
}

/// What a runner is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerState {
    /// Started; not yet leading or on standby.
    Starting,
    /// Another runner of the projection is active; this one takes over when it goes away.
    Standby,
    /// Active, applying batches of past events.
    CatchingUp,
    /// Active and caught up, waiting for appends.
    Live,
    /// Stopped on request.
    Stopped,
    /// Stopped by an error (see [`ProjectionStatus::last_error`]).
    Failed,
    /// No runner of this process is involved: the status was read from the stores alone.
    Detached,
}

/// Where a projection stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionStatus {
    /// The projection's name.
    pub projection: &'static str,
    /// The projection's [`VERSION`](Projection::VERSION).
    pub version: u32,
    /// The version the stored read model was built with, if it has a checkpoint yet. When it
    /// differs from `version`, the read model will be rebuilt and counts as empty.
    pub stored_version: Option<u32>,
    /// How far the read model got ([`Checkpoint::START`] when it has not started, or must be
    /// rebuilt).
    pub checkpoint: Checkpoint,
    /// The highest global position in the event store, if any event is stored.
    pub head_position: Option<u64>,
    /// The checkpoint a caught-up runner would have reached.
    pub head: Checkpoint,
    /// How many events of the projection's types it has yet to apply.
    pub lag_events: u64,
    /// How long ago the oldest event it has yet to apply was recorded; zero when caught up.
    pub lag: Duration,
    /// Whether the runner behind this status is the projection's active one.
    pub leader: bool,
    /// What the runner behind this status is doing.
    pub state: RunnerState,
    /// The most recent error the runner met, with its causes, if any (kept after it recovered).
    pub last_error: Option<String>,
}

type CrashHook = Arc<dyn Fn(&[RecordedEvent]) -> bool + Send + Sync>;

#[derive(Clone)]
struct Config {
    batch_size: usize,
    poll_interval: Duration,
    retry: RetryPolicy,
    on_poison: OnPoison,
    lease: Duration,
    crash_before_commit: Option<CrashHook>,
}

/// Keeps a projection's read model up to date: a builder, then [`spawn`](Self::spawn).
///
/// ```ignore
/// let handle = ProjectionRunner::new(event_store, read_store, Balances)
///     .batch_size(200)
///     .on_poison(OnPoison::DeadLetter)
///     .spawn();
/// handle.wait_for(receipt.position, Duration::from_secs(2)).await?;
/// ```
///
/// The runner reads the events of [`Projection::EVENT_TYPES`] after the stored checkpoint in
/// batches ([`EventSource::read_batch`]). Each batch is applied in **one read-store transaction**
/// that also moves the checkpoint to the batch's horizon, with an update fenced on the
/// checkpoint's previous value: a crash anywhere neither loses nor repeats an event, and a runner
/// that finds the checkpoint moved by another one rolls back and steps down. When caught up, it
/// waits for [`EventSource::listen`] to signal an append, or for the poll interval.
///
/// Only one runner per projection is active across processes (see the read store's docs for
/// how); the others wait on standby and take over from the checkpoint when it goes away.
///
/// When the stored checkpoint was written by another [`Projection::VERSION`], the runner empties
/// the read model with [`Projection::reset`] and replays from the first event, in the transaction
/// that resets the checkpoint; a projection without a `#[reset]` method fails with
/// [`ProjectionError::VersionChanged`] instead.
///
/// A handler error rolls the batch back; it is retried per [`RetryPolicy`], then the event is
/// poison: see [`OnPoison`]. The runner never moves past a failed event silently. Unreachable
/// stores are retried forever with backoff (recorded in the status' `last_error`).
pub struct ProjectionRunner<P: Projection, S> {
    source: S,
    store: P::Store,
    projection: Arc<P>,
    config: Config,
}

impl<P: Projection, S> fmt::Debug for ProjectionRunner<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectionRunner")
            .field("projection", &P::NAME)
            .field("batch_size", &self.config.batch_size)
            .field("poll_interval", &self.config.poll_interval)
            .field("retry", &self.config.retry)
            .field("on_poison", &self.config.on_poison)
            .finish_non_exhaustive()
    }
}

impl<P: Projection, S: EventSource> ProjectionRunner<P, S> {
    /// A runner of `projection` from the events of `source` into `store`, with batches of 500,
    /// a 1 s poll interval, the default [`RetryPolicy`] and [`OnPoison::Stop`].
    pub fn new(source: S, store: P::Store, projection: P) -> Self {
        Self {
            source,
            store,
            projection: Arc::new(projection),
            config: Config {
                batch_size: DEFAULT_BATCH_SIZE,
                poll_interval: DEFAULT_POLL_INTERVAL,
                retry: RetryPolicy::default(),
                on_poison: OnPoison::default(),
                lease: DEFAULT_LEASE,
                crash_before_commit: None,
            },
        }
    }

    /// Events per batch and per transaction (at least 1).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.config.batch_size = batch_size.max(1);
        self
    }

    /// How long a caught-up runner waits for an append signal before reading anyway, and how
    /// often a standby runner checks whether it can take over.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How failing batches are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = RetryPolicy {
            attempts: policy.attempts.max(1),
            ..policy
        };
        self
    }

    /// What to do with an event whose handler still fails after every retry.
    pub fn on_poison(mut self, on_poison: OnPoison) -> Self {
        self.config.on_poison = on_poison;
        self
    }

    /// How long a lease on the projection lasts without renewal, on read stores that lease
    /// ([`SqliteReadStore`](super::SqliteReadStore)): a standby runner takes over that long after
    /// the active one died. The active runner renews it every third of that. Default 15 s.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// **For tests of crash safety only.** Calls `hook` with each batch after its handlers ran
    /// and its checkpoint update was issued, before the commit; when it returns `true`, the
    /// runner drops the transaction and its connection uncommitted, as a crash would, and ends
    /// with [`ProjectionError::SimulatedCrash`]. Dead-letter transactions do not call it.
    pub fn crash_before_commit(
        mut self,
        hook: impl Fn(&[RecordedEvent]) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config.crash_before_commit = Some(Arc::new(hook));
        self
    }

    /// Starts the runner on the Tokio runtime. Dropping the handle leaves it running; stop it
    /// with [`ProjectionHandle::stop`].
    #[must_use = "the handle is how the runner is stopped and observed"]
    pub fn spawn(self) -> ProjectionHandle<P, S> {
        let shared = Arc::new(Shared {
            observed: Mutex::new(Observed {
                state: RunnerState::Starting,
                leader: false,
                last_error: None,
            }),
            progress: watch::channel(Checkpoint::START).0,
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let (request_tx, request_rx) = mpsc::channel(4);
        let worker = Worker {
            source: self.source.clone(),
            read_ahead: None,
            store: self.store.clone(),
            projection: self.projection,
            config: self.config,
            shared: shared.clone(),
            stop: stop_rx,
            requests: request_rx,
            owner: Uuid::new_v4(),
        };
        let span = tracing::info_span!("chronicle.projection", projection = P::NAME, version = P::VERSION);
        let task = tokio::spawn(worker.run().instrument(span));
        ProjectionHandle {
            shared,
            stop: stop_tx,
            requests: request_tx,
            task,
            source: self.source,
            store: self.store,
            _projection: PhantomData,
        }
    }
}

/// Controls and observes a spawned [`ProjectionRunner`].
pub struct ProjectionHandle<P: Projection, S> {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    requests: mpsc::Sender<Request>,
    task: JoinHandle<Result<(), ProjectionError>>,
    source: S,
    store: P::Store,
    _projection: PhantomData<fn() -> P>,
}

impl<P: Projection, S> fmt::Debug for ProjectionHandle<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let observed = self.shared.observed();
        f.debug_struct("ProjectionHandle")
            .field("projection", &P::NAME)
            .field("state", &observed.state)
            .field("leader", &observed.leader)
            .finish_non_exhaustive()
    }
}

impl<P: Projection, S: EventSource> ProjectionHandle<P, S> {
    /// Whether this runner is the projection's active one.
    pub fn is_leader(&self) -> bool {
        self.shared.observed().leader
    }

    /// What this runner is doing.
    pub fn state(&self) -> RunnerState {
        self.shared.observed().state
    }

    /// Where the projection stands: the stored checkpoint, the lag behind the event store, and
    /// this runner's role and last error.
    pub async fn status(&self) -> Result<ProjectionStatus, ProjectionError> {
        let mut status = status_of::<P, S>(&self.source, &self.store).await?;
        let observed = self.shared.observed();
        status.leader = observed.leader;
        status.state = observed.state;
        status.last_error = observed.last_error.clone();
        Ok(status)
    }

    /// Waits until the read model includes the event at global `position` (a
    /// [`Receipt`](crate::Receipt)'s), whichever runner applies it: read-your-writes. `None`
    /// (the command recorded nothing) is ready at once. Fails with [`ProjectionError::Timeout`]
    /// after `timeout`.
    pub async fn wait_for(&self, position: Option<u64>, timeout: Duration) -> Result<(), ProjectionError> {
        wait_for_checkpoint::<P, S>(
            &self.source,
            &self.store,
            position,
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
    ///
    /// Only the active runner can rebuild: on a standby one this fails with
    /// [`ProjectionError::NotLeader`].
    pub async fn rebuild(&self) -> Result<(), ProjectionError> {
        let stopped = || ProjectionError::Stopped { projection: P::NAME };
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Rebuild(reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The dead letters of the projection.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, ProjectionError> {
        self.store.dead_letters(P::NAME).await
    }

    /// Whether the runner has ended (stopped, failed or panicked).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the runner to stop after its current batch, releases its leadership, and waits for
    /// it; returns the error it failed with, if it did before.
    pub async fn stop(self) -> Result<(), ProjectionError> {
        self.stop.send_replace(true);
        self.join().await
    }

    /// Waits for the runner to end by itself: it only does on an error.
    pub async fn join(self) -> Result<(), ProjectionError> {
        match self.task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => Err(ProjectionError::Panicked {
                projection: P::NAME,
                message: panic_message(error.into_panic().as_ref()),
            }),
            Err(_cancelled) => Err(ProjectionError::Stopped { projection: P::NAME }),
        }
    }

    /// Ends the runner at once, wherever it is, as a crash would: its transaction and
    /// connection are dropped uncommitted. For tests and emergencies; prefer
    /// [`stop`](Self::stop).
    pub fn abort(self) {
        self.task.abort();
    }
}

enum Request {
    Rebuild(oneshot::Sender<Result<(), ProjectionError>>),
}

struct Shared {
    observed: Mutex<Observed>,
    progress: watch::Sender<Checkpoint>,
}

struct Observed {
    state: RunnerState,
    leader: bool,
    last_error: Option<String>,
}

impl Shared {
    fn observed(&self) -> MutexGuard<'_, Observed> {
        // Only plain assignments happen under the lock: a poisoned one is still consistent.
        self.observed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The runner's hold on the read store while it leads.
struct Session<C> {
    connection: C,
    /// The checkpoint row as committed (`None`: no row yet).
    row: Option<CheckpointRow>,
    renewed: Instant,
}

impl<C> Session<C> {
    fn checkpoint(&self) -> Checkpoint {
        self.row.map_or(Checkpoint::START, |row| row.checkpoint)
    }
}

/// The outcome of one turn of the loop.
enum Turn {
    /// A batch was committed: read on.
    Progress,
    /// Nothing to read: wait for an append.
    Idle,
    /// Another runner leads.
    Standby,
    /// The checkpoint moved under this runner, or its lease was taken: step down.
    LostLead,
    /// A handler failed because its connection did: reconnect and try again.
    Broken(String),
}

enum Applied {
    Committed,
    Fenced,
    Failed(BatchFailure),
}

enum Wake {
    Signalled,
    Timeout,
    Stop,
    Request(Request),
}

/// The read of the batch after the one being applied, started before applying it so that the
/// event store and the read store work at the same time while a runner catches up. Dropping it
/// stops the read.
struct ReadAhead {
    after: Checkpoint,
    task: JoinHandle<Result<Batch, StoreError>>,
}

impl ReadAhead {
    fn start<S: EventSource>(
        source: S,
        after: Checkpoint,
        event_types: &'static [&'static str],
        limit: usize,
    ) -> Self {
        let task = tokio::spawn(async move { source.read_batch(after, event_types, limit).await });
        Self { after, task }
    }

    /// The batch, or `None` if the read could not finish (the runtime is shutting down).
    async fn result(mut self) -> Option<Result<Batch, StoreError>> {
        (&mut self.task).await.ok()
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Worker<P: Projection, S> {
    source: S,
    read_ahead: Option<ReadAhead>,
    store: P::Store,
    projection: Arc<P>,
    config: Config,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    requests: mpsc::Receiver<Request>,
    owner: Uuid,
}

type Conn<P> = <<P as Projection>::Store as ReadStore>::Connection;

impl<P: Projection, S: EventSource> Worker<P, S> {
    async fn run(mut self) -> Result<(), ProjectionError> {
        tracing::info!("projection runner started");
        // A panicking handler must not leave the status saying "leader": catch it here (the
        // runner's connection is dropped with the loop, so the database lets go too).
        let result = AssertUnwindSafe(self.run_loop())
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                Err(ProjectionError::Panicked {
                    projection: P::NAME,
                    message: panic_message(panic.as_ref()),
                })
            });
        let mut observed = self.shared.observed();
        observed.leader = false;
        match &result {
            Ok(()) => {
                observed.state = RunnerState::Stopped;
                tracing::info!("projection runner stopped");
            }
            Err(error) => {
                observed.state = RunnerState::Failed;
                observed.last_error = Some(error_chain(error));
                tracing::error!(error = %error_chain(error), "projection runner failed");
            }
        }
        result
    }

    async fn run_loop(&mut self) -> Result<(), ProjectionError> {
        let mut listener: Option<AppendListener> = None;
        let mut next_listen = Instant::now();
        let mut session: Option<Session<Conn<P>>> = None;
        let mut spare: Option<Conn<P>> = None;
        let mut failures: u32 = 0;
        let mut settle: Option<Duration> = None;

        while !*self.stop.borrow() {
            if listener.is_none() && Instant::now() >= next_listen {
                // Before reading, so that no append between the read and the wait goes unseen.
                match self.source.listen().await {
                    Ok(new) => listener = Some(new),
                    Err(error) => {
                        tracing::warn!(error = %error_chain(&error), "cannot listen for appends; polling");
                        next_listen = Instant::now() + self.config.poll_interval.max(LISTEN_RETRY);
                    }
                }
            }
            while let Ok(request) = self.requests.try_recv() {
                self.serve(request, &mut session).await;
            }

            let turn = match self.turn(&mut session, &mut spare).await {
                Ok(turn) => turn,
                Err(error) if error.is_transient() => Turn::Broken(error_chain(&error)),
                Err(error) => {
                    self.release(session.take()).await;
                    return Err(error);
                }
            };
            match turn {
                Turn::Progress => failures = 0,
                Turn::Idle => {
                    failures = 0;
                    let mut timeout = settle.unwrap_or(self.config.poll_interval);
                    // A lease must be renewed well before it expires.
                    timeout = timeout.min(self.config.lease / 3);
                    match self.wait(&mut listener, timeout).await {
                        Wake::Signalled => settle = Some(SETTLE_MIN),
                        Wake::Timeout => {
                            settle = settle.map(|d| d * 2).filter(|d| *d < self.config.poll_interval);
                        }
                        Wake::Stop => {}
                        Wake::Request(request) => self.serve(request, &mut session).await,
                    }
                }
                Turn::Standby => {
                    failures = 0;
                    if let Wake::Request(request) = self.wait(&mut None, self.config.poll_interval).await {
                        self.serve(request, &mut session).await;
                    }
                }
                Turn::LostLead => {
                    tracing::warn!("another runner moved the checkpoint or took the lease; stepping down");
                    session = None;
                    self.set_leader(false, RunnerState::Standby);
                }
                Turn::Broken(message) => {
                    failures = failures.saturating_add(1);
                    let pause = self.config.retry.delay(failures);
                    tracing::warn!(error = %message, ?pause, "store unavailable; reconnecting after a pause");
                    self.set_error(message);
                    // The connection may be the broken part; a new one is taken next turn.
                    session = None;
                    spare = None;
                    listener = None;
                    self.set_leader(false, RunnerState::Starting);
                    self.pause(pause).await;
                }
            }
        }
        self.release(session).await;
        if let Some(spare) = spare {
            let _ = spare.close().await;
        }
        Ok(())
    }

    /// Leads if it can, then reads and applies one batch.
    async fn turn(
        &mut self,
        session: &mut Option<Session<Conn<P>>>,
        spare: &mut Option<Conn<P>>,
    ) -> Result<Turn, ProjectionError> {
        let session = match session {
            Some(session) => session,
            None => match self.lead(spare).await? {
                Some(new) => session.insert(new),
                None => return Ok(Turn::Standby),
            },
        };
        if session.renewed.elapsed() >= self.config.lease / 3 {
            if !self
                .store
                .keep_lead(&mut session.connection, P::NAME, self.owner, self.config.lease)
                .await?
            {
                return Ok(Turn::LostLead);
            }
            session.renewed = Instant::now();
        }

        let checkpoint = session.checkpoint();
        let batch = match self.read_ahead.take() {
            Some(read) if read.after == checkpoint => read.result().await,
            // The batch before it was not committed (or another runner moved the checkpoint).
            Some(_) | None => None,
        };
        let batch = match batch {
            Some(batch) => batch?,
            None => {
                self.source
                    .read_batch(checkpoint, P::EVENT_TYPES, self.config.batch_size)
                    .await?
            }
        };
        if batch.events.is_empty() {
            if batch.horizon > checkpoint
                && self.skipped_events(checkpoint, batch.horizon).await?
                && !self.advance(session, batch.horizon).await?
            {
                return Ok(Turn::LostLead);
            }
            self.set_state(RunnerState::Live);
            return Ok(Turn::Idle);
        }
        if batch.events.len() >= self.config.batch_size {
            self.set_state(RunnerState::CatchingUp);
            // More may follow: read them while this batch is applied, from where it ends.
            self.read_ahead = Some(ReadAhead::start(
                self.source.clone(),
                batch.horizon,
                P::EVENT_TYPES,
                self.config.batch_size,
            ));
        }
        tracing::debug!(
            events = batch.events.len(),
            from = ?checkpoint,
            to = ?batch.horizon,
            "applying batch"
        );
        self.process(session, &batch.events, batch.horizon).await
    }

    /// Tries to become the active runner; on success, loads the checkpoint and rebuilds if the
    /// projection's version changed.
    async fn lead(
        &mut self,
        spare: &mut Option<Conn<P>>,
    ) -> Result<Option<Session<Conn<P>>>, ProjectionError> {
        let mut connection = match spare.take() {
            Some(connection) => connection,
            None => self.store.connect().await?,
        };
        if !self
            .store
            .try_lead(&mut connection, P::NAME, self.owner, self.config.lease)
            .await?
        {
            *spare = Some(connection);
            let mut observed = self.shared.observed();
            if observed.state != RunnerState::Standby {
                tracing::info!("another runner is active; standing by");
            }
            observed.state = RunnerState::Standby;
            observed.leader = false;
            return Ok(None);
        }
        let row = self.store.load_checkpoint(&mut connection, P::NAME).await?;
        let mut session = Session {
            connection,
            row,
            renewed: Instant::now(),
        };
        tracing::info!(checkpoint = ?session.checkpoint(), "leading");
        self.set_leader(true, RunnerState::CatchingUp);
        let needs_reset = match row {
            Some(row) if row.version != P::VERSION => {
                if !P::HAS_RESET {
                    return Err(ProjectionError::VersionChanged {
                        projection: P::NAME,
                        stored: row.version,
                        current: P::VERSION,
                    });
                }
                tracing::info!(stored = row.version, "projection version changed; rebuilding");
                true
            }
            Some(_) => false,
            // Never built: `#[reset]` prepares an empty read model (creates its tables).
            None => P::HAS_RESET,
        };
        if needs_reset && !self.reset(&mut session).await? {
            self.set_leader(false, RunnerState::Standby);
            return Ok(None);
        }
        self.shared.progress.send_replace(session.checkpoint());
        Ok(Some(session))
    }

    /// Applies a batch, retrying per the policy, then stops or dead-letters a poison event.
    async fn process(
        &mut self,
        session: &mut Session<Conn<P>>,
        events: &[RecordedEvent],
        horizon: Checkpoint,
    ) -> Result<Turn, ProjectionError> {
        let mut attempt: u32 = 0;
        // Batch handlers take runs of events; when one fails, it is not known which event of the
        // run it failed on, so the retries apply the events one at a time to find out.
        let mut one_at_a_time = false;
        loop {
            attempt += 1;
            let failure = match self.commit_batch(session, events, horizon, one_at_a_time).await? {
                Applied::Committed => return Ok(Turn::Progress),
                Applied::Fenced => return Ok(Turn::LostLead),
                Applied::Failed(failure) => failure,
            };
            let (index, error) = (failure.first, failure.error);
            let Some(event) = events.get(index) else {
                return Ok(Turn::Broken(error_chain(&error)));
            };
            if handler_error_transient(&error) {
                return Ok(Turn::Broken(error_chain(&error)));
            }
            if failure.count > 1 && !one_at_a_time {
                // Not yet a try that counts: first find the event it failed on.
                tracing::debug!(
                    error = %error_chain(&error),
                    events = failure.count,
                    "a batch handler failed; applying its events one at a time"
                );
                one_at_a_time = true;
                attempt -= 1;
                continue;
            }
            let poison = PoisonEvent {
                projection: P::NAME,
                position: event.position,
                transaction_id: event.transaction_id,
                event_id: event.event_id,
                stream_id: event.stream_id.clone(),
                stream_version: event.stream_version,
                event_type: event.event_type.clone(),
                attempts: attempt,
                source: error,
            };
            let message = error_chain(&poison);
            self.set_error(message.clone());
            if attempt < self.config.retry.attempts {
                let pause = self.config.retry.delay(attempt);
                tracing::warn!(error = %message, ?pause, "handler failed; retrying the batch");
                if self.pause(pause).await {
                    return Ok(Turn::Progress);
                }
                continue;
            }
            return match self.config.on_poison {
                OnPoison::Stop => {
                    tracing::error!(error = %message, "poison event; stopping");
                    Err(ProjectionError::Poison(Box::new(poison)))
                }
                OnPoison::DeadLetter => {
                    tracing::error!(error = %message, "poison event; dead-lettering it");
                    self.dead_letter(session, &events[..index], event, &message).await
                }
            };
        }
    }

    /// One transaction: the handlers of every event (in runs, or one at a time), then the fenced
    /// checkpoint update, then commit.
    async fn commit_batch(
        &mut self,
        session: &mut Session<Conn<P>>,
        events: &[RecordedEvent],
        horizon: Checkpoint,
        one_at_a_time: bool,
    ) -> Result<Applied, ProjectionError> {
        let next = CheckpointRow {
            version: P::VERSION,
            checkpoint: horizon,
        };
        let mut tx = P::Store::begin(&mut session.connection).await?;
        let applied = if one_at_a_time {
            apply_each(&*self.projection, events, &mut tx).await
        } else {
            self.projection.apply_batch(events, &mut tx).await
        };
        if let Err(failure) = applied {
            // A failed rollback means a broken connection, which the next `begin` reports.
            let _ = tx.rollback().await;
            return Ok(Applied::Failed(failure));
        }
        if !self
            .store
            .save_checkpoint(&mut *tx, P::NAME, session.row, next)
            .await?
        {
            let _ = tx.rollback().await;
            return Ok(Applied::Fenced);
        }
        if let Some(hook) = &self.config.crash_before_commit {
            if hook(events) {
                drop(tx);
                return Err(ProjectionError::SimulatedCrash {
                    projection: P::NAME,
                    checkpoint: horizon,
                });
            }
        }
        tx.commit().await.map_err(ProjectionError::ReadStore)?;
        session.row = Some(next);
        self.shared.progress.send_replace(horizon);
        Ok(Applied::Committed)
    }

    /// Applies the events before a poison one, records the poison one as a dead letter and
    /// moves the checkpoint to it, in one transaction.
    async fn dead_letter(
        &mut self,
        session: &mut Session<Conn<P>>,
        before: &[RecordedEvent],
        poison: &RecordedEvent,
        message: &str,
    ) -> Result<Turn, ProjectionError> {
        let next = CheckpointRow {
            version: P::VERSION,
            checkpoint: Checkpoint::of(poison),
        };
        let mut tx = P::Store::begin(&mut session.connection).await?;
        if apply_each(&*self.projection, before, &mut tx).await.is_err() {
            // They just succeeded; a failure now goes through the retries again.
            let _ = tx.rollback().await;
            return Ok(Turn::Progress);
        }
        self.store
            .record_dead_letter(&mut *tx, P::NAME, poison, message)
            .await?;
        if !self
            .store
            .save_checkpoint(&mut *tx, P::NAME, session.row, next)
            .await?
        {
            let _ = tx.rollback().await;
            return Ok(Turn::LostLead);
        }
        tx.commit().await.map_err(ProjectionError::ReadStore)?;
        session.row = Some(next);
        self.shared.progress.send_replace(next.checkpoint);
        Ok(Turn::Progress)
    }

    /// Whether events of other types lie between `checkpoint` and `horizon`. On Postgres the
    /// horizon moves with every transaction of the server, so moving the checkpoint whenever it
    /// does would write at every poll; moving it only past events costs a read instead.
    async fn skipped_events(
        &self,
        checkpoint: Checkpoint,
        horizon: Checkpoint,
    ) -> Result<bool, ProjectionError> {
        let next = self.source.read_batch(checkpoint, &[], 1).await?;
        Ok(next
            .events
            .first()
            .is_some_and(|event| Checkpoint::of(event) <= horizon))
    }

    /// Moves the checkpoint past events of other types, in a transaction of its own.
    async fn advance(
        &mut self,
        session: &mut Session<Conn<P>>,
        horizon: Checkpoint,
    ) -> Result<bool, ProjectionError> {
        let next = CheckpointRow {
            version: P::VERSION,
            checkpoint: horizon,
        };
        let mut tx = P::Store::begin(&mut session.connection).await?;
        if !self
            .store
            .save_checkpoint(&mut *tx, P::NAME, session.row, next)
            .await?
        {
            let _ = tx.rollback().await;
            return Ok(false);
        }
        tx.commit().await.map_err(ProjectionError::ReadStore)?;
        session.row = Some(next);
        self.shared.progress.send_replace(horizon);
        Ok(true)
    }

    /// Empties the read model and moves the checkpoint back to the start, in one transaction.
    /// `false` when the checkpoint had moved under this runner.
    async fn reset(&mut self, session: &mut Session<Conn<P>>) -> Result<bool, ProjectionError> {
        if !P::HAS_RESET {
            return Err(ProjectionError::NoReset { projection: P::NAME });
        }
        let next = CheckpointRow {
            version: P::VERSION,
            checkpoint: Checkpoint::START,
        };
        let mut tx = P::Store::begin(&mut session.connection).await?;
        if let Err(source) = self.projection.reset(&mut *tx).await {
            let _ = tx.rollback().await;
            return Err(ProjectionError::Reset {
                projection: P::NAME,
                source,
            });
        }
        if !self
            .store
            .save_checkpoint(&mut *tx, P::NAME, session.row, next)
            .await?
        {
            let _ = tx.rollback().await;
            return Ok(false);
        }
        tx.commit().await.map_err(ProjectionError::ReadStore)?;
        session.row = Some(next);
        self.shared.progress.send_replace(Checkpoint::START);
        self.set_state(RunnerState::CatchingUp);
        tracing::info!("read model reset; replaying from the first event");
        Ok(true)
    }

    async fn serve(&mut self, request: Request, session: &mut Option<Session<Conn<P>>>) {
        match request {
            Request::Rebuild(reply) => {
                let result = match session {
                    None => Err(ProjectionError::NotLeader { projection: P::NAME }),
                    Some(active) => match self.reset(active).await {
                        Ok(true) => Ok(()),
                        Ok(false) => {
                            *session = None;
                            self.set_leader(false, RunnerState::Standby);
                            Err(ProjectionError::NotLeader { projection: P::NAME })
                        }
                        Err(error) => {
                            if error.is_transient() {
                                *session = None;
                                self.set_leader(false, RunnerState::Starting);
                            }
                            tracing::warn!(error = %error_chain(&error), "rebuild failed");
                            Err(error)
                        }
                    },
                };
                let _ = reply.send(result);
            }
        }
    }

    /// Waits for an append signal, the timeout, a stop or a request.
    async fn wait(&mut self, listener: &mut Option<AppendListener>, timeout: Duration) -> Wake {
        let signal = async {
            match listener {
                Some(listener) => listener.wait(timeout).await,
                None => {
                    tokio::time::sleep(timeout).await;
                    false
                }
            }
        };
        tokio::select! {
            signalled = signal => if signalled { Wake::Signalled } else { Wake::Timeout },
            () = stopped(&mut self.stop) => Wake::Stop,
            Some(request) = self.requests.recv() => Wake::Request(request),
        }
    }

    /// Sleeps, unless asked to stop; `true` when asked to stop.
    async fn pause(&mut self, duration: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => false,
            () = stopped(&mut self.stop) => true,
        }
    }

    /// Gives up leadership and closes the runner's connection.
    async fn release(&self, session: Option<Session<Conn<P>>>) {
        if let Some(mut session) = session {
            if let Err(error) = self
                .store
                .release_lead(&mut session.connection, P::NAME, self.owner)
                .await
            {
                tracing::debug!(error = %error_chain(&error), "could not release leadership; it lapses");
            }
            // Closing the connection also ends a session-bound claim.
            if let Err(error) = session.connection.close().await {
                tracing::debug!(error = %error, "could not close the runner's connection cleanly");
            }
        }
        self.set_leader(false, RunnerState::Stopped);
    }

    fn set_leader(&self, leader: bool, state: RunnerState) {
        let mut observed = self.shared.observed();
        observed.leader = leader;
        observed.state = state;
    }

    fn set_state(&self, state: RunnerState) {
        self.shared.observed().state = state;
    }

    fn set_error(&self, message: String) {
        self.shared.observed().last_error = Some(message);
    }
}

/// The message of a panic's payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Resolves when a stop is requested; never when the handle is gone without asking.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The status of a projection from the stores alone.
pub(crate) async fn status_of<P: Projection, S: EventSource>(
    source: &S,
    store: &P::Store,
) -> Result<ProjectionStatus, ProjectionError> {
    let row = store.read_checkpoint(P::NAME).await?;
    let checkpoint = current::<P>(row);
    let head = source.head().await?;
    let lag_events = source.count_after(checkpoint, P::EVENT_TYPES).await?;
    let lag = if lag_events == 0 {
        Duration::ZERO
    } else {
        let next = source.read_batch(checkpoint, P::EVENT_TYPES, 1).await?;
        next.events.first().map_or(Duration::ZERO, |event| {
            (chrono::Utc::now() - event.recorded_at)
                .to_std()
                .unwrap_or(Duration::ZERO)
        })
    };
    Ok(ProjectionStatus {
        projection: P::NAME,
        version: P::VERSION,
        stored_version: row.map(|row| row.version),
        checkpoint,
        head_position: head.position,
        head: head.checkpoint,
        lag_events,
        lag,
        leader: false,
        state: RunnerState::Detached,
        last_error: None,
    })
}

/// The checkpoint a stored row stands for: the start when none, or when built by another version.
fn current<P: Projection>(row: Option<CheckpointRow>) -> Checkpoint {
    row.filter(|row| row.version == P::VERSION)
        .map_or(Checkpoint::START, |row| row.checkpoint)
}

/// Waits until the projection's stored checkpoint covers the event at `position`.
pub(crate) async fn wait_for_checkpoint<P: Projection, S: EventSource>(
    source: &S,
    store: &P::Store,
    position: Option<u64>,
    timeout: Duration,
    progress: Option<watch::Receiver<Checkpoint>>,
) -> Result<(), ProjectionError> {
    let Some(position) = position else { return Ok(()) };
    let target = source
        .checkpoint_of(position)
        .await?
        .ok_or(ProjectionError::UnknownPosition {
            projection: P::NAME,
            position,
        })?;
    wait_until::<P, S>(source, store, target, position, timeout, progress).await
}

/// Waits until the projection's stored checkpoint reaches `target`, polling it (and waking early
/// on an in-process runner's progress).
async fn wait_until<P: Projection, S: EventSource>(
    source: &S,
    store: &P::Store,
    target: Checkpoint,
    position: u64,
    timeout: Duration,
    mut progress: Option<watch::Receiver<Checkpoint>>,
) -> Result<(), ProjectionError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut pause = WAIT_POLL_MIN;
    loop {
        let checkpoint = store.read_checkpoint(P::NAME).await?;
        let checkpoint = checkpoint
            .filter(|row| row.version == P::VERSION)
            .map(|row| row.checkpoint);
        if checkpoint.is_some_and(|checkpoint| checkpoint >= target) {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            let checkpoint = checkpoint.unwrap_or(Checkpoint::START);
            let lag_events = source.count_after(checkpoint, P::EVENT_TYPES).await?;
            return Err(ProjectionError::Timeout {
                projection: P::NAME,
                position,
                target,
                checkpoint,
                lag_events,
                waited: now - started,
            });
        }
        let nap = pause.min(deadline - now);
        pause = (pause * 2).min(WAIT_POLL_MAX);
        match &mut progress {
            Some(receiver) => {
                tokio::select! {
                    changed = receiver.changed() => {
                        if changed.is_err() {
                            progress = None;
                        }
                    }
                    () = tokio::time::sleep(nap) => {}
                }
            }
            None => tokio::time::sleep(nap).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        assert_eq!(policy.delay(1), Duration::from_millis(100));
        assert_eq!(policy.delay(2), Duration::from_millis(200));
        assert_eq!(policy.delay(3), Duration::from_millis(350));
        assert_eq!(policy.delay(u32::MAX), Duration::from_millis(350));
    }
}
