//! Applying what a runner read: a batch with its checkpoint in one transaction, retries, and
//! what happens to a poison event; passing events of other types; resetting the read model.

use super::policy::OnPoison;
use super::session::{commit_fenced, Fence, Session};
use super::worker::{Turn, Worker};
use crate::core::error::error_chain;
use crate::core::error::HandlerError;
use crate::core::metrics::{dead_lettered, events_applied};
use crate::core::projection::{apply_each, BatchFailure, Projection};
use crate::core::read_store::{CheckpointRow, DeadLetter, DeadLetters, ReadStore, ReadTransaction};
use crate::core::source::{Checkpoint, EventSource, UnreadableEvent};
use crate::core::store::RecordedEvent;
use crate::read::error::{PoisonEvent, ProjectionError};
use crate::read::status::RunnerState;

enum Applied {
    Committed,
    Fenced,
    Failed(BatchFailure),
}

impl<P: Projection, S: EventSource> Worker<P, S> {
    /// Applies a batch, retrying per the policy, then stops or dead-letters a poison event.
    pub(super) async fn process(
        &mut self,
        session: &mut Session<P::Store>,
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
                return Ok(broken(&error));
            };
            if error.is_unavailable() {
                // What the handler depends on is away; the read store's session is fine.
                return Ok(Turn::Broken {
                    message: error_chain(&error),
                    read_store: false,
                });
            }
            if P::Store::is_transient(&error) {
                return Ok(broken(&error));
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
            // Trying again cannot decode what did not decode.
            let retry = !error.is_undecodable() && attempt < self.config.retry.attempts;
            let poison = PoisonEvent::of(self.name(), event, attempt, error);
            let letter = poison.dead_letter(self.version());
            let message = letter.error.clone();
            self.set_error(message.clone());
            if retry {
                let pause = self.config.retry.delay(attempt, self.config.retry.max_backoff);
                tracing::warn!(error = %message, ?pause, "handler failed; retrying the batch");
                if self.pause(pause).await {
                    return Ok(Turn::Progress);
                }
                continue;
            }
            return self
                .poisoned(session, &events[..index], Checkpoint::of(event), letter, poison)
                .await;
        }
    }

    /// A row the source could not read as an event: poison at once, whatever the retry policy.
    pub(super) async fn unreadable(
        &mut self,
        session: &mut Session<P::Store>,
        row: &UnreadableEvent,
    ) -> Result<Turn, ProjectionError> {
        let poison = PoisonEvent {
            projection: self.name(),
            position: row.checkpoint.position,
            transaction_id: row.checkpoint.transaction_id,
            event_id: row.event_id,
            stream_id: row.stream_id.clone(),
            stream_version: row.stream_version,
            event_type: row.event_type.clone(),
            attempts: 1,
            source: HandlerError::new(row.error.clone()),
        };
        let letter = poison.dead_letter(self.version());
        self.set_error(letter.error.clone());
        self.poisoned(session, &[], row.checkpoint, letter, poison).await
    }

    /// Applies the policy to a poison event: stop, or dead-letter it.
    async fn poisoned(
        &mut self,
        session: &mut Session<P::Store>,
        before: &[RecordedEvent],
        at: Checkpoint,
        letter: DeadLetter,
        poison: PoisonEvent,
    ) -> Result<Turn, ProjectionError> {
        match self.config.on_poison {
            OnPoison::Stop => {
                tracing::error!(error = %letter.error, "poison event; stopping");
                Err(ProjectionError::Poison(Box::new(poison)))
            }
            OnPoison::DeadLetter => {
                tracing::error!(error = %letter.error, "poison event; dead-lettering it");
                self.dead_letter(session, before, at, &letter).await
            }
        }
    }

    /// One transaction: the handlers of every event (in runs, or one at a time), the deletion of
    /// the dead letters of events now applied, then the fenced checkpoint update and the commit.
    async fn commit_batch(
        &mut self,
        session: &mut Session<P::Store>,
        events: &[RecordedEvent],
        horizon: Checkpoint,
        one_at_a_time: bool,
    ) -> Result<Applied, ProjectionError> {
        let next = CheckpointRow {
            version: self.version(),
            checkpoint: horizon,
        };
        if let Err(failure) = self.projection.prepare(events).await {
            return Ok(Applied::Failed(failure));
        }
        let mut tx = P::Store::begin_batch(&mut session.connection).await?;
        let applied = if one_at_a_time {
            apply_each(&*self.projection, events, tx.connection()).await
        } else {
            self.projection.apply_batch(events, tx.connection()).await
        };
        if let Err(failure) = applied {
            // A failed rollback means a broken connection, which the next `begin` reports.
            let _ = tx.rollback().await;
            return Ok(Applied::Failed(failure));
        }
        let cleared: Vec<u64> = if session.dead_letters.is_empty() {
            Vec::new()
        } else {
            events
                .iter()
                .map(|event| event.position)
                .filter(|position| session.dead_letters.contains(position))
                .collect()
        };
        if !cleared.is_empty() {
            self.store
                .delete_dead_letters(tx.connection(), self.name(), DeadLetters::AtPositions(&cleared))
                .await?;
        }
        let crash = self
            .config
            .crash_before_commit
            .as_ref()
            .map(|hook| (hook, events));
        match commit_fenced(&self.store, tx, self.name(), &mut session.row, next, crash).await? {
            Fence::Committed => {
                for position in &cleared {
                    session.dead_letters.remove(position);
                }
                events_applied(self.name(), events.len());
                self.shared.progress.send_replace(horizon);
                Ok(Applied::Committed)
            }
            Fence::Moved => Ok(Applied::Fenced),
        }
    }

    /// Applies the events before a poison one, records the poison one as a dead letter and
    /// moves the checkpoint to it, in one transaction.
    async fn dead_letter(
        &mut self,
        session: &mut Session<P::Store>,
        before: &[RecordedEvent],
        at: Checkpoint,
        letter: &DeadLetter,
    ) -> Result<Turn, ProjectionError> {
        let next = CheckpointRow {
            version: self.version(),
            checkpoint: at,
        };
        let mut tx = P::Store::begin(&mut session.connection).await?;
        if apply_each(&*self.projection, before, tx.connection())
            .await
            .is_err()
        {
            // They just succeeded; a failure now goes through the retries again.
            let _ = tx.rollback().await;
            return Ok(Turn::Progress);
        }
        self.store.record_dead_letter(tx.connection(), letter).await?;
        match commit_fenced(&self.store, tx, self.name(), &mut session.row, next, None).await? {
            Fence::Committed => {
                session.dead_letters.insert(letter.position);
                events_applied(self.name(), before.len());
                dead_lettered(self.name());
                self.shared.progress.send_replace(at);
                Ok(Turn::Progress)
            }
            Fence::Moved => Ok(Turn::LostLead),
        }
    }

    /// Moves the checkpoint past events of other types, in a transaction of its own. On Postgres
    /// the horizon moves with every transaction of the server, so the caller does this only when
    /// such events lie in between: moving the checkpoint at every poll would write at every poll.
    /// `false` when the checkpoint had moved under this runner.
    pub(super) async fn advance(
        &mut self,
        session: &mut Session<P::Store>,
        horizon: Checkpoint,
    ) -> Result<bool, ProjectionError> {
        let next = CheckpointRow {
            version: self.version(),
            checkpoint: horizon,
        };
        let tx = P::Store::begin(&mut session.connection).await?;
        match commit_fenced(&self.store, tx, self.name(), &mut session.row, next, None).await? {
            Fence::Committed => {
                self.shared.progress.send_replace(horizon);
                Ok(true)
            }
            Fence::Moved => Ok(false),
        }
    }

    /// Empties the read model and moves the checkpoint back to the start, in one transaction,
    /// dropping the dead letters of other versions (their read model is gone). `false` when the
    /// checkpoint had moved under this runner.
    pub(super) async fn reset(&mut self, session: &mut Session<P::Store>) -> Result<bool, ProjectionError> {
        if !P::HAS_RESET {
            return Err(ProjectionError::NoReset {
                projection: self.name(),
            });
        }
        let next = CheckpointRow {
            version: self.version(),
            checkpoint: Checkpoint::START,
        };
        let mut tx = P::Store::begin(&mut session.connection).await?;
        if let Err(source) = self.projection.reset(tx.connection()).await {
            let _ = tx.rollback().await;
            return Err(ProjectionError::Reset {
                projection: self.name(),
                source,
            });
        }
        self.store
            .delete_dead_letters(
                tx.connection(),
                self.name(),
                DeadLetters::NotOfVersion(self.version()),
            )
            .await?;
        match commit_fenced(&self.store, tx, self.name(), &mut session.row, next, None).await? {
            Fence::Committed => {
                self.shared.progress.send_replace(Checkpoint::START);
                self.set_state(RunnerState::CatchingUp);
                tracing::info!("read model reset; replaying from the first event");
                Ok(true)
            }
            Fence::Moved => Ok(false),
        }
    }
}

/// A handler that failed because its connection did: the session is what broke.
fn broken(error: &HandlerError) -> Turn {
    Turn::Broken {
        message: error_chain(error),
        read_store: true,
    }
}
