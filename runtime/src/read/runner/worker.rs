//! The runner's task: lead (or stand by), read a batch, apply it, wait for appends, and recover
//! from stores that go away.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::Instrument as _;
use uuid::Uuid;

use super::config::Config;
use super::handle::{panic_message, Request, Shared};
use super::read_ahead::ReadAhead;
use super::session::Session;
use crate::core::error::error_chain;
use crate::core::metrics::projection_lag;
use crate::core::projection::Projection;
use crate::core::read_store::check_name;
use crate::core::read_store::ReadStore;
use crate::core::source::{AppendListener, EventSource};
use crate::core::store::RecordedEvent;
use crate::read::control::says_paused;
use crate::read::error::ProjectionError;
use crate::read::layout::paused_name;
use crate::read::reads::read_for;
use crate::read::status::{age, RunnerState};

/// After a wake-up that found nothing to read (the new events were not yet safe to deliver, say),
/// the runner polls again after this pause, doubling up to the poll interval.
const SETTLE_MIN: Duration = Duration::from_millis(2);
/// The least pause before trying again to listen for appends after failing to.
const LISTEN_RETRY: Duration = Duration::from_secs(5);
/// The longest pause before trying again a store that could not be reached, so that a runner
/// applies again within about a second of its stores answering.
const RECONNECT_MAX: Duration = Duration::from_secs(1);

pub(super) type Conn<P> = <<P as Projection>::Store as ReadStore>::Session;

pub(super) struct Worker<P: Projection, S> {
    pub(super) source: S,
    pub(super) read_ahead: Option<ReadAhead>,
    pub(super) store: P::Store,
    pub(super) projection: Arc<P>,
    pub(super) config: Config,
    pub(super) shared: Arc<Shared>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) requests: mpsc::Receiver<Request>,
    pub(super) owner: Uuid,
}

/// What the loop holds from one turn to the next.
struct Held<P: Projection> {
    /// The session while leading.
    session: Option<Session<P::Store>>,
    /// A session kept while on standby, to try leading with again.
    spare: Option<Conn<P>>,
    listener: Option<AppendListener>,
    /// When to try listening again after failing to.
    next_listen: Instant,
}

/// How long the loop waits before its next turn.
#[derive(Default)]
struct Pacing {
    /// Consecutive turns that found a store unreachable.
    failures: u32,
    /// After a wake-up that found nothing to read: the next, shorter wait.
    settle: Option<Duration>,
    /// How soon the projection's clock work ([`Projection::tick`]) asked to run again.
    tick: Option<Duration>,
}

/// The outcome of one turn of the loop.
pub(super) enum Turn {
    /// A batch was committed: read on.
    Progress,
    /// Nothing to read: wait for an append.
    Idle,
    /// Another runner leads.
    Standby,
    /// The checkpoint moved under this runner, or its lease was taken: step down.
    LostLead,
    /// An operator paused the projection: let go of the lead until resumed.
    Paused,
    /// A store could not be reached, or a handler failed because its connection did: reconnect
    /// and try again. `read_store` says whether the read store's session is what broke.
    Broken { message: String, read_store: bool },
}

enum Wake {
    Signalled,
    Timeout,
    Stop,
    Request(Request),
}

impl<P: Projection, S: EventSource> Worker<P, S> {
    /// The name the projection's checkpoint, lease and dead letters are stored under.
    pub(super) fn name(&self) -> &'static str {
        self.projection.identity().name
    }

    /// The version of the projection's read model.
    pub(super) fn version(&self) -> u32 {
        self.projection.identity().version
    }

    pub(super) async fn run(mut self) -> Result<(), ProjectionError> {
        tracing::info!("projection runner started");
        // A panicking handler must not leave the status saying "leader": catch it here (the
        // runner's session is dropped with the loop, so the database lets go too).
        let result = AssertUnwindSafe(self.run_loop())
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                Err(ProjectionError::Panicked {
                    projection: self.name(),
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
        // A name no store keeps is refused before any store sees it, by every store alike.
        check_name("projection", self.name())?;
        let mut held = Held::<P> {
            session: None,
            spare: None,
            listener: None,
            next_listen: Instant::now(),
        };
        let mut pacing = Pacing::default();
        while !*self.stop.borrow() {
            self.listen(&mut held).await;
            while let Ok(request) = self.requests.try_recv() {
                self.serve(request, &mut held.session).await;
            }
            let turn = match self.turn(&mut held.session, &mut held.spare).await {
                Ok(turn) => turn,
                Err(error) if error.is_transient() => Turn::Broken {
                    read_store: matches!(error, ProjectionError::ReadStore(_)),
                    message: error_chain(&error),
                },
                Err(error) => {
                    self.release(held.session.take()).await;
                    return Err(error);
                }
            };
            if held.session.is_some() && matches!(turn, Turn::Progress | Turn::Idle) {
                pacing.tick = self.tick().await;
            }
            self.after(turn, &mut held, &mut pacing).await;
        }
        self.release(held.session.take()).await;
        if let Some(spare) = held.spare.take() {
            P::Store::close(spare).await;
        }
        Ok(())
    }

    /// The projection's clock work, while leading; how soon it wants to run again. A failure
    /// is the status' last error, and the work is tried again at the next turn.
    async fn tick(&self) -> Option<Duration> {
        match self.projection.tick().await {
            Ok(next) => next,
            Err(error) => {
                let message = error_chain(&error);
                tracing::warn!(error = %message, "the projection's clock work failed; trying again");
                self.set_error(message);
                Some(self.config.retry.delay(1, RECONNECT_MAX))
            }
        }
    }

    /// Listens for appends, before reading, so that no append between the read and the wait
    /// goes unseen.
    async fn listen(&self, held: &mut Held<P>) {
        if held.listener.is_some() || Instant::now() < held.next_listen {
            return;
        }
        match self.source.listen().await {
            Ok(listener) => held.listener = Some(listener),
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "cannot listen for appends; polling");
                held.next_listen = Instant::now() + self.config.poll_interval.max(LISTEN_RETRY);
            }
        }
    }

    /// Waits as the turn's outcome asks.
    async fn after(&mut self, turn: Turn, held: &mut Held<P>, pacing: &mut Pacing) {
        match turn {
            Turn::Progress => pacing.failures = 0,
            Turn::Idle => {
                pacing.failures = 0;
                // A lease must be renewed well before it expires.
                let timeout = pacing
                    .settle
                    .unwrap_or(self.config.poll_interval)
                    .min(self.config.lease / 3)
                    .min(pacing.tick.unwrap_or(Duration::MAX).max(SETTLE_MIN));
                match self.wait(&mut held.listener, timeout).await {
                    Wake::Signalled => pacing.settle = Some(SETTLE_MIN),
                    Wake::Timeout => {
                        pacing.settle = pacing
                            .settle
                            .map(|d| d * 2)
                            .filter(|d| *d < self.config.poll_interval);
                    }
                    Wake::Stop => {}
                    Wake::Request(request) => self.serve(request, &mut held.session).await,
                }
            }
            Turn::Standby => {
                pacing.failures = 0;
                if let Wake::Request(request) = self.wait(&mut None, self.config.poll_interval).await {
                    self.serve(request, &mut held.session).await;
                }
            }
            Turn::Paused => {
                tracing::info!("paused by an operator; stepping down until resumed");
                self.release(held.session.take()).await;
                self.set_leader(false, RunnerState::Paused);
            }
            Turn::LostLead => {
                tracing::warn!("the checkpoint moved under this runner, or its claim lapsed; stepping down");
                // Let go of the claim, if it still holds it (an operator's rebuild moved the
                // checkpoint): a pooled session dropped as it is would keep it from leading again.
                self.release(held.session.take()).await;
                self.set_leader(false, RunnerState::Standby);
            }
            Turn::Broken { message, read_store } => {
                pacing.failures = pacing.failures.saturating_add(1);
                // The first failure after working is most often a connection the server dropped
                // (a restart): a new one is tried at once, without a pause.
                let pause = match pacing.failures {
                    1 => Duration::ZERO,
                    failures => self.config.retry.delay(failures - 1, RECONNECT_MAX),
                };
                tracing::warn!(error = %message, ?pause, "store unavailable; reconnecting");
                self.set_error(message);
                if read_store {
                    // The session may be the broken part; a new one is opened next turn.
                    held.session = None;
                    held.spare = None;
                    self.set_leader(false, RunnerState::Starting);
                }
                self.pause(pause).await;
            }
        }
    }

    /// Leads if it can, then reads and applies one batch.
    async fn turn(
        &mut self,
        session: &mut Option<Session<P::Store>>,
        spare: &mut Option<Conn<P>>,
    ) -> Result<Turn, ProjectionError> {
        let session = match session {
            Some(session) => session,
            None => match self.lead(spare).await? {
                Some(new) => {
                    self.projection.on_lead();
                    session.insert(new)
                }
                None => return Ok(Turn::Standby),
            },
        };
        if session.renewed.elapsed() >= self.config.lease / 3 {
            if !self
                .store
                .keep_lead(
                    &mut session.connection,
                    self.name(),
                    self.owner,
                    self.config.lease,
                )
                .await?
            {
                return Ok(Turn::LostLead);
            }
            session.renewed = Instant::now();
            // An operator's requests are looked for as often as the claim is renewed: a rebuild
            // from another process moved the checkpoint (an idle runner commits nothing that
            // would find out), a pause, retries.
            if self
                .store
                .load_checkpoint(&mut session.connection, self.name())
                .await?
                != session.row
            {
                return Ok(Turn::LostLead);
            }
            if says_paused(
                self.store
                    .load_checkpoint(&mut session.connection, paused_name(P::NAME))
                    .await?,
            ) {
                return Ok(Turn::Paused);
            }
            if let Some(turn) = self.retry_requested(session).await? {
                return Ok(turn);
            }
        }

        let checkpoint = session.checkpoint();
        let read_ahead = match self.read_ahead.take() {
            Some(read) if read.after == checkpoint => read.result().await,
            // The batch before it was not committed (or another runner moved the checkpoint).
            Some(_) | None => None,
        };
        let batch = match read_ahead {
            Some(batch) => batch?,
            None => {
                read_for(
                    &self.source,
                    checkpoint,
                    self.projection.identity(),
                    self.config.batch_size,
                    self.config.key_store.as_ref(),
                )
                .await?
            }
        };
        if batch.events.is_empty() {
            if let Some(unreadable) = batch.unreadable {
                return self.unreadable(session, &unreadable).await;
            }
            if batch.horizon > checkpoint
                && self.source.any_between(checkpoint, batch.horizon).await?
                && !self.advance(session, batch.horizon).await?
            {
                return Ok(Turn::LostLead);
            }
            self.set_state(RunnerState::Live);
            projection_lag(self.name(), 0, Duration::ZERO);
            return Ok(Turn::Idle);
        }
        let full = batch.events.len() >= self.config.batch_size;
        if full {
            self.set_state(RunnerState::CatchingUp);
            // More may follow: read them while this batch is applied, from where it ends.
            self.read_ahead = Some(ReadAhead::start(
                self.source.clone(),
                batch.horizon,
                self.projection.clone(),
                self.config.batch_size,
                self.config.key_store.clone(),
            ));
        }
        // The fields are computed only when the span is enabled.
        let span = tracing::debug_span!(
            "chronicle.batch",
            events = batch.events.len(),
            first_position = batch.events.first().map(|e| e.position),
            last_position = batch.events.last().map(|e| e.position),
            correlation_ids = %crate::read::spans::correlation_ids(&batch.events),
        );
        let turn = self
            .process(session, &batch.events, batch.horizon)
            .instrument(span)
            .await?;
        // Measured once the whole batch is committed (not after a dead letter part of the way).
        if matches!(turn, Turn::Progress) && session.checkpoint() == batch.horizon {
            self.measure_lag(batch.events.last().filter(|_| full)).await;
        }
        Ok(turn)
    }

    /// Sets the lag gauges after a committed batch. A short batch read everything there was: no
    /// lag. After a full one, `last` is its last event, and the lag is from there to the head of
    /// the log: one read of the head per full batch, the cheapest query of the source (the events
    /// of the projection's types alone would have to be counted).
    async fn measure_lag(&self, last: Option<&RecordedEvent>) {
        let Some(last) = last else {
            projection_lag(self.name(), 0, Duration::ZERO);
            return;
        };
        match self.source.head().await {
            Ok(head) => {
                let ahead = head.position.unwrap_or(0).saturating_sub(last.position);
                projection_lag(self.name(), ahead, age(Some(last.recorded_at)));
            }
            // The gauges keep their last values; the next read meets the store's trouble itself.
            Err(error) => {
                tracing::debug!(error = %error_chain(&error), "cannot read the head for the lag gauges")
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
    pub(super) async fn pause(&mut self, duration: Duration) -> bool {
        if duration.is_zero() {
            return *self.stop.borrow();
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => false,
            () = stopped(&mut self.stop) => true,
        }
    }

    pub(super) fn set_leader(&self, leader: bool, state: RunnerState) {
        let mut observed = self.shared.observed();
        observed.leader = leader;
        observed.state = state;
    }

    pub(super) fn set_state(&self, state: RunnerState) {
        self.shared.observed().state = state;
    }

    pub(super) fn set_error(&self, message: String) {
        self.shared.observed().last_error = Some(message);
    }
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
