//! Dead letters an operator asked to apply again ([`ReadStore::request_retry`], from the command
//! line or the admin page): the leading runner applies each one in a transaction of its own,
//! deleting the letter with it, or records the new error and forgets the request.
//!
//! A retried event is applied after the events that followed it, which is the point of
//! dead-lettering it: the read model went on without it. Handlers that must see a stream's events
//! in order should skip a letter rather than retry it, or rebuild.

use chrono::Utc;

use super::session::{commit_fenced, Fence, Session};
use super::worker::{Turn, Worker};
use crate::core::error::error_chain;
use crate::core::limits::storable_error;
use crate::core::projection::{apply_each, Projection};
use crate::core::read_store::{DeadLetter, DeadLetters, ReadStore, ReadTransaction};
use crate::core::source::EventSource;
use crate::read::error::{PoisonEvent, ProjectionError};

impl<P: Projection, S: EventSource> Worker<P, S> {
    /// Applies the dead letters of this version that have a retry requested. `Some(turn)` when
    /// the runner must stop here (it lost the lead, or a store went away: the requests stay).
    pub(super) async fn retry_requested(
        &mut self,
        session: &mut Session<P::Store>,
    ) -> Result<Option<Turn>, ProjectionError> {
        // Only this runner records letters while it leads: with none, nothing can be asked for.
        if session.dead_letters.is_empty() {
            return Ok(None);
        }
        let letters = self.store.dead_letters(self.name(), self.version()).await?;
        for letter in letters
            .iter()
            .filter(|letter| letter.retry_requested_at.is_some())
        {
            if let Some(turn) = self.retry(session, letter).await? {
                return Ok(Some(turn));
            }
        }
        Ok(None)
    }

    /// One retry: the event's handlers and the letter's deletion in one transaction, fenced on
    /// the checkpoint (which stays where it is); on failure, the letter recorded again with the
    /// new error and no request.
    async fn retry(
        &mut self,
        session: &mut Session<P::Store>,
        letter: &DeadLetter,
    ) -> Result<Option<Turn>, ProjectionError> {
        let Some(row) = session.row else {
            return Ok(None);
        };
        let mut events = self.source.read_all(letter.position.saturating_sub(1), 1).await?;
        crate::core::pii::payload::reveal(&mut events, self.config.key_store.as_deref()).await?;
        let event = events.into_iter().find(|event| event.position == letter.position);
        let prepared = match &event {
            Some(event) => self.projection.prepare(std::slice::from_ref(event)).await,
            None => Ok(()),
        };
        let mut tx = P::Store::begin(&mut session.connection).await?;
        let error = match event {
            None => format!(
                "retry requested: the event at position {} is not in the log any more",
                letter.position
            ),
            Some(event) => {
                let applied = match prepared {
                    Ok(()) => {
                        apply_each(&*self.projection, std::slice::from_ref(&event), tx.connection()).await
                    }
                    Err(failure) => Err(failure),
                };
                match applied {
                    Ok(()) => {
                        let positions = [letter.position];
                        self.store
                            .delete_dead_letters(
                                tx.connection(),
                                self.name(),
                                DeadLetters::AtPositions(&positions),
                            )
                            .await?;
                        return match commit_fenced(&self.store, tx, self.name(), &mut session.row, row, None)
                            .await?
                        {
                            Fence::Committed => {
                                session.dead_letters.remove(&letter.position);
                                tracing::info!(position = letter.position, "dead letter retried and applied");
                                Ok(None)
                            }
                            Fence::Moved => Ok(Some(Turn::LostLead)),
                        };
                    }
                    Err(failure) => {
                        let _ = tx.rollback().await;
                        let error = failure.error;
                        if error.is_unavailable() || P::Store::is_transient(&error) {
                            // Not the event's fault: the request stays for the next try.
                            return Ok(Some(Turn::Broken {
                                message: error_chain(&error),
                                read_store: !error.is_unavailable(),
                            }));
                        }
                        tx = P::Store::begin(&mut session.connection).await?;
                        error_chain(&PoisonEvent::of(self.name(), &event, 1, error))
                    }
                }
            }
        };
        tracing::warn!(position = letter.position, %error, "dead letter retried and failed again");
        self.set_error(error.clone());
        let again = DeadLetter {
            error: storable_error(format!("retried: {error}")),
            recorded_at: Utc::now(),
            retry_requested_at: None,
            ..letter.clone()
        };
        self.store.record_dead_letter(tx.connection(), &again).await?;
        match commit_fenced(&self.store, tx, self.name(), &mut session.row, row, None).await? {
            Fence::Committed => Ok(None),
            Fence::Moved => Ok(Some(Turn::LostLead)),
        }
    }
}
