//! The projection runner: catch up from the checkpoint, follow the log live, exactly once.
//!
//! [`ProjectionRunner`] is the builder; [`spawn`](ProjectionRunner::spawn) starts the worker
//! loop (`worker.rs`, with leadership in `lead.rs`) and returns a [`ProjectionHandle`] (`handle.rs`). A batch is applied and
//! committed with its checkpoint in `apply.rs`, every commit ending in the one fenced update of
//! `session.rs`; `policy.rs` says what happens when a handler fails; `retries.rs` applies again
//! the dead letters an operator asked for.

mod apply;
mod config;
mod handle;
mod lead;
mod policy;
mod read_ahead;
mod retries;
mod session;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::Instrument;
use uuid::Uuid;

use self::config::Config;
pub(crate) use self::config::{LeadGate, ProgressRegistry};
use self::handle::Shared;
pub(crate) use self::handle::{outcome, panic_message, LeaderFlag};
pub use self::handle::{ProjectionHandle, RunnerExit};
pub use self::policy::{OnPoison, RetryPolicy};
use self::worker::Worker;
use crate::core::projection::Projection;
use crate::core::source::EventSource;
use crate::core::store::RecordedEvent;

/// Events per batch unless [`ProjectionRunner::batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// How long an idle runner waits for a wake-up before polling anyway.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a SQLite lease lasts without renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

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
/// [`ProjectionError::VersionChanged`](crate::ProjectionError::VersionChanged) instead.
///
/// A handler error rolls the batch back; it is retried per [`RetryPolicy`], then the event is
/// poison: see [`OnPoison`]. An event that cannot be read or decoded is poison at once, since
/// trying again cannot help. The runner never moves past a failed event silently. Unreachable
/// stores are retried forever (recorded in the status' `last_error`): at once after a connection
/// is found dead, then with pauses doubling from the retry policy's backoff up to one second, so
/// that a runner applies again within about a second of its stores answering.
///
/// The runner counts what it commits and dead-letters (`chronicle_projection_events_applied_total`,
/// `chronicle_projection_dead_letters_total`) and sets its lag after each batch
/// (`chronicle_projection_lag_events`, `chronicle_projection_lag_seconds`), labelled with the
/// projection's name, through the `metrics` facade (see [`describe_metrics`](crate::describe_metrics)).
pub struct ProjectionRunner<P: Projection, S> {
    source: S,
    store: P::Store,
    projection: Arc<P>,
    config: Config,
}

impl<P: Projection, S> fmt::Debug for ProjectionRunner<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectionRunner")
            .field("projection", &self.projection.identity().name)
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
                may_lead: None,
                owner: None,
                key_store: None,
                progress_to: None,
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

    /// How long the active runner's claim lasts without renewal: on SQLite and Redis, a standby
    /// runner takes over that long after the active one died; on Postgres and MariaDB a dead
    /// runner's claim goes with its session at once, and on Postgres a runner whose session stays
    /// idle that long (a paused process) has it ended by the server
    /// (`idle_session_timeout`, `idle_in_transaction_session_timeout`). The active runner renews
    /// it every third of that; keep it longer than any pause of a handler between two of its
    /// statements. Default 15 s.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// Test seam, not part of the API: calls `hook` with each batch after its handlers ran and
    /// its checkpoint update was issued, before the commit; when it returns `true`, the runner
    /// drops the transaction and its connection uncommitted, as a crash would, and ends with a
    /// simulated-crash error. Dead-letter transactions do not call it.
    #[doc(hidden)]
    pub fn crash_before_commit(
        mut self,
        hook: impl Fn(&[RecordedEvent]) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config.crash_before_commit = Some(Arc::new(hook));
        self
    }

    /// Lists the runner's progress in `registry` when it is spawned (a read side's runners).
    pub(crate) fn progress_to(mut self, registry: ProgressRegistry) -> Self {
        self.config.progress_to = Some(registry);
        self
    }

    /// Keeps the runner on standby while `gate` says no (a partitioned projection's worker that
    /// holds its share of the partitions).
    pub(crate) fn may_lead(mut self, gate: LeadGate) -> Self {
        self.config.may_lead = Some(gate);
        self
    }

    /// Claims the lead under `owner` instead of an id of the runner's own.
    pub(crate) fn owner(mut self, owner: Uuid) -> Self {
        self.config.owner = Some(owner);
        self
    }

    /// The same runner, writing into `store` instead (a blue/green location).
    pub(crate) fn in_store(mut self, store: P::Store) -> Self {
        self.store = store;
        self
    }

    /// The event store the runner reads.
    pub(crate) fn source(&self) -> &S {
        &self.source
    }

    /// The read store the runner writes into.
    pub(crate) fn store(&self) -> &P::Store {
        &self.store
    }

    /// The projection the runner runs.
    pub(crate) fn projection(&self) -> &P {
        &self.projection
    }

    /// How often a caught-up runner polls.
    pub(crate) fn poll(&self) -> Duration {
        self.config.poll_interval
    }

    /// Opens the `#[pii]` fields of the events with `keys` instead of the event store's own key
    /// table ([`EventStore::key_store`](crate::EventStore::key_store)): the key store given to
    /// [`Chronicle::with_key_store`](crate::Chronicle::with_key_store).
    pub fn key_store(mut self, keys: crate::core::pii::keys::SharedKeyStore) -> Self {
        self.config.key_store = Some(keys);
        self
    }

    /// Starts the runner on the Tokio runtime. Dropping the handle leaves it running; stop it
    /// with [`ProjectionHandle::stop`].
    #[must_use = "the handle is how the runner is stopped and observed"]
    pub fn spawn(mut self) -> ProjectionHandle<P, S> {
        self.config.key_store = match P::REVEALS_PII {
            true => self.config.key_store.or_else(|| self.source.key_store()),
            false => None,
        };
        let shared = Arc::new(Shared::new());
        if let Some(registry) = self.config.progress_to.take() {
            let mut runners = registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            runners.insert(self.projection.identity().name, shared.progress.subscribe());
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let (request_tx, request_rx) = mpsc::channel(4);
        let owner = self.config.owner.unwrap_or_else(Uuid::new_v4);
        let worker = Worker {
            source: self.source.clone(),
            read_ahead: None,
            store: self.store.clone(),
            projection: self.projection.clone(),
            config: self.config,
            shared: shared.clone(),
            stop: stop_rx,
            requests: request_rx,
            owner,
        };
        let identity = self.projection.identity();
        let span = tracing::info_span!(
            "chronicle.projection",
            projection = identity.name,
            version = identity.version
        );
        let task = tokio::spawn(worker.run().instrument(span));
        ProjectionHandle {
            shared,
            stop: stop_tx,
            requests: request_tx,
            task,
            source: self.source,
            store: self.store,
            projection: self.projection,
        }
    }
}
