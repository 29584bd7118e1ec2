//! The consumer's task: lead (or stand by), prepare the read model, subscribe, receive and apply,
//! and recover from a read store or broker that goes away.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::error::ConsumerError;
use super::error::OnPoisonMessage;
use super::handle::Shared;
use crate::core::error::error_chain;
use crate::core::projection::Projection;
use crate::core::read_store::check_name;
use crate::core::read_store::{ConsumerRow, DeadLetters, ReadStore, ReadTransaction};
use crate::core::source::Checkpoint;
use crate::core::subscribe::{Subscriber, Subscription, SubscriptionSpec};
use crate::read::runner::{panic_message, RetryPolicy};
use crate::read::status::RunnerState;

/// The longest pause before trying again a store or broker that could not be reached.
const RECONNECT_MAX: Duration = Duration::from_secs(1);
/// How often a standby consumer tries to lead.
const STANDBY_POLL: Duration = Duration::from_secs(1);
/// How long a receive waits before the loop looks at its lease and the broker's backlog.
const IDLE_TICK: Duration = Duration::from_millis(500);
/// How often the broker is asked for the backlog while messages flow.
const BACKLOG_EVERY: Duration = Duration::from_millis(500);

/// How a consumer was configured by its builder.
#[derive(Debug, Clone, Copy)]
pub(super) struct Config {
    pub(super) batch_size: u16,
    pub(super) retry: RetryPolicy,
    pub(super) on_poison: OnPoisonMessage,
    pub(super) lease: Duration,
}

type Session<P> = <<P as Projection>::Store as ReadStore>::Session;

pub(super) struct Worker<P: Projection, B: Subscriber> {
    pub(super) name: &'static str,
    pub(super) broker: String,
    pub(super) subscriber: B,
    pub(super) store: P::Store,
    pub(super) projection: Arc<P>,
    pub(super) config: Config,
    pub(super) shared: Arc<Shared>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) owner: Uuid,
}

/// The consumer's hold on the read store while it leads.
pub(super) struct Lead<P: Projection> {
    pub(super) connection: Session<P>,
    /// The consumer's row as committed.
    pub(super) row: ConsumerRow,
    renewed: Instant,
}

/// What the loop holds from one turn to the next.
struct Held<P: Projection, B: Subscriber> {
    lead: Option<Lead<P>>,
    /// A session kept while on standby, to try leading with again.
    spare: Option<Session<P>>,
    subscription: Option<B::Subscription>,
    /// When the broker was last asked for the backlog.
    backlog_asked: Option<Instant>,
}

/// The outcome of one turn of the loop.
pub(super) enum Turn {
    /// Messages were received (and applied, or recognised as applied).
    Progress,
    /// Nothing arrived for a while.
    Idle,
    /// Another consumer of the name leads.
    Standby,
    /// The row moved under this consumer, or its lease was taken: step down.
    LostLead,
}

impl<P: Projection, B: Subscriber> Worker<P, B> {
    pub(super) async fn run(mut self) -> Result<(), ConsumerError> {
        tracing::info!("consumer started");
        let result = AssertUnwindSafe(self.run_loop())
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                Err(ConsumerError::Panicked {
                    consumer: self.name,
                    message: panic_message(panic.as_ref()),
                })
            });
        let mut observed = self.shared.observed();
        observed.leader = false;
        observed.subscribed = false;
        match &result {
            Ok(()) => {
                observed.state = Some(RunnerState::Stopped);
                tracing::info!("consumer stopped");
            }
            Err(error) => {
                observed.state = Some(RunnerState::Failed);
                observed.last_error = Some(error_chain(error));
                tracing::error!(error = %error_chain(error), "consumer failed");
            }
        }
        result
    }

    async fn run_loop(&mut self) -> Result<(), ConsumerError> {
        // A name no store keeps is refused before any store sees it, by every store alike.
        check_name("consumer", self.name)?;
        let mut held = Held::<P, B> {
            lead: None,
            spare: None,
            subscription: None,
            backlog_asked: None,
        };
        let mut failures: u32 = 0;
        while !*self.stop.borrow() {
            match self.turn(&mut held).await {
                Ok(Turn::Progress | Turn::Idle) => failures = 0,
                Ok(Turn::Standby) => {
                    failures = 0;
                    self.pause(STANDBY_POLL.min(self.config.lease / 3)).await;
                }
                Ok(Turn::LostLead) => {
                    tracing::warn!("another consumer moved the row or took the lease; stepping down");
                    // Unacknowledged messages go back to the broker with the subscription.
                    self.unsubscribed(&mut held.subscription);
                    held.lead = None;
                    self.set_leader(false, RunnerState::Standby);
                }
                Err(error) if error.is_transient() => {
                    failures = failures.saturating_add(1);
                    // The first failure after working is most often a connection the server
                    // dropped (a restart): a new one is tried at once.
                    let pause = match failures {
                        1 => Duration::ZERO,
                        n => self.config.retry.delay(n - 1, RECONNECT_MAX),
                    };
                    let message = error_chain(&error);
                    tracing::warn!(error = %message, ?pause, "unavailable; reconnecting");
                    self.shared.observed().last_error = Some(message);
                    self.unsubscribed(&mut held.subscription);
                    if matches!(error, ConsumerError::ReadStore(_)) {
                        // The session may be the broken part, and the lease with it.
                        held.lead = None;
                        held.spare = None;
                        self.set_leader(false, RunnerState::Starting);
                    }
                    self.pause(pause).await;
                }
                Err(error) => {
                    self.unsubscribed(&mut held.subscription);
                    self.release(held.lead.take()).await;
                    return Err(error);
                }
            }
        }
        self.unsubscribed(&mut held.subscription);
        self.release(held.lead.take()).await;
        if let Some(spare) = held.spare.take() {
            P::Store::close(spare).await;
        }
        Ok(())
    }

    /// Leads if it can, subscribes if it has not, then receives and applies what arrives.
    async fn turn(&mut self, held: &mut Held<P, B>) -> Result<Turn, ConsumerError> {
        let lead = match &mut held.lead {
            Some(lead) => lead,
            None => match self.lead(&mut held.spare).await? {
                Some(new) => held.lead.insert(new),
                None => return Ok(Turn::Standby),
            },
        };
        if lead.renewed.elapsed() >= self.config.lease / 3 {
            if !self
                .store
                .keep_lead(&mut lead.connection, self.name, self.owner, self.config.lease)
                .await?
            {
                return Ok(Turn::LostLead);
            }
            lead.renewed = Instant::now();
        }
        let subscription = match &mut held.subscription {
            Some(subscription) => subscription,
            None => {
                let spec = SubscriptionSpec {
                    consumer: self.name,
                    event_types: self.projection.identity().event_types,
                    after_sequence: lead.row.broker_sequence,
                    prefetch: self.config.batch_size,
                };
                let subscription = self.subscriber.subscribe(spec).await?;
                tracing::info!(after_sequence = spec.after_sequence, "subscribed");
                held.backlog_asked = None;
                self.shared.observed().subscribed = true;
                held.subscription.insert(subscription)
            }
        };
        let received = tokio::select! {
            received = subscription.receive(usize::from(self.config.batch_size)) => Some(received?),
            () = tokio::time::sleep(IDLE_TICK) => None,
            () = stopped(&mut self.stop) => return Ok(Turn::Idle),
        };
        let turn = match received {
            Some(deliveries) => {
                tracing::debug!(messages = deliveries.len(), "applying");
                self.process(lead, subscription, &deliveries).await?
            }
            None => Turn::Idle,
        };
        let due = held
            .backlog_asked
            .is_none_or(|asked| asked.elapsed() >= BACKLOG_EVERY);
        if due {
            held.backlog_asked = Some(Instant::now());
            let backlog = subscription.backlog().await?;
            let mut observed = self.shared.observed();
            observed.backlog = Some((backlog, Utc::now()));
            if observed.leader {
                observed.state = Some(if backlog == 0 {
                    RunnerState::Live
                } else {
                    RunnerState::CatchingUp
                });
            }
        }
        Ok(turn)
    }

    /// Tries to become the active consumer; on success, loads its row and prepares the read
    /// model (building it on a first start, rebuilding it on a new version).
    async fn lead(&mut self, spare: &mut Option<Session<P>>) -> Result<Option<Lead<P>>, ConsumerError> {
        let mut connection = match spare.take() {
            Some(connection) => connection,
            None => self.store.connect().await?,
        };
        if !self
            .store
            .try_lead(&mut connection, self.name, self.owner, self.config.lease)
            .await?
        {
            *spare = Some(connection);
            let mut observed = self.shared.observed();
            if observed.state != Some(RunnerState::Standby) {
                tracing::info!("another consumer of the name is active; standing by");
            }
            observed.state = Some(RunnerState::Standby);
            observed.leader = false;
            return Ok(None);
        }
        let stored = self.store.load_consumer(&mut connection, self.name).await?;
        let row = match stored {
            Some(row) if row.version == self.version() => row,
            _ => match self.prepare(&mut connection, stored).await {
                Ok(Some(row)) => row,
                Ok(None) => {
                    // Another consumer moved the row between the lease and the reset.
                    self.store
                        .release_lead(&mut connection, self.name, self.owner)
                        .await?;
                    *spare = Some(connection);
                    return Ok(None);
                }
                Err(error) => {
                    let _ = self
                        .store
                        .release_lead(&mut connection, self.name, self.owner)
                        .await;
                    return Err(error);
                }
            },
        };
        tracing::info!(
            position = row.checkpoint.position,
            sequence = row.broker_sequence,
            "leading"
        );
        self.set_leader(true, RunnerState::CatchingUp);
        Ok(Some(Lead {
            connection,
            row,
            renewed: Instant::now(),
        }))
    }

    /// Empties the read model (its `#[reset]`), forgets what was consumed and starts the row
    /// over: on a first start, and when the projection's version changed (which only a broker
    /// that keeps history can feed). `None` when another consumer moved the row meanwhile.
    async fn prepare(
        &self,
        connection: &mut Session<P>,
        stored: Option<ConsumerRow>,
    ) -> Result<Option<ConsumerRow>, ConsumerError> {
        if let Some(row) = stored {
            if !self.subscriber.keeps_history() {
                return Err(ConsumerError::CannotRebuild {
                    consumer: self.name,
                    broker: self.broker.clone(),
                    stored: row.version,
                    current: self.version(),
                });
            }
            if !P::HAS_RESET {
                return Err(ConsumerError::VersionChanged {
                    consumer: self.name,
                    stored: row.version,
                    current: self.version(),
                });
            }
            tracing::info!(
                stored = row.version,
                "projection version changed; rebuilding from the broker"
            );
        }
        let next = ConsumerRow {
            version: self.version(),
            checkpoint: Checkpoint::START,
            broker_sequence: 0,
            last_recorded_at: None,
        };
        let mut tx = P::Store::begin(connection).await?;
        if let Err(source) = self.projection.reset(tx.connection()).await {
            let _ = tx.rollback().await;
            return Err(ConsumerError::Reset {
                consumer: self.name,
                source,
            });
        }
        self.store.forget_consumed(tx.connection(), self.name).await?;
        self.store
            .delete_dead_letters(
                tx.connection(),
                self.name,
                DeadLetters::NotOfVersion(next.version),
            )
            .await?;
        if !self
            .store
            .save_consumer(tx.connection(), self.name, stored, next)
            .await?
        {
            let _ = tx.rollback().await;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(next))
    }

    /// Gives up the lead, if held.
    async fn release(&self, lead: Option<Lead<P>>) {
        let Some(mut lead) = lead else { return };
        if let Err(error) = self
            .store
            .release_lead(&mut lead.connection, self.name, self.owner)
            .await
        {
            tracing::warn!(error = %error_chain(&error), "could not release the lead; it expires by itself");
        }
        P::Store::close(lead.connection).await;
    }

    /// Drops the subscription, if any: what it received and did not acknowledge goes back to
    /// the broker.
    fn unsubscribed(&self, subscription: &mut Option<B::Subscription>) {
        *subscription = None;
        self.shared.observed().subscribed = false;
    }

    /// The version of the projection's read model.
    pub(super) fn version(&self) -> u32 {
        self.projection.identity().version
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

    fn set_leader(&self, leader: bool, state: RunnerState) {
        let mut observed = self.shared.observed();
        observed.leader = leader;
        observed.state = Some(state);
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
