//! Applying what a consumer received: the messages and the record of what they applied in one
//! read-store transaction, fenced on the consumer's row; acknowledging after the commit; retries,
//! and what happens to a poison message.

use std::collections::HashMap;

use chrono::Utc;

use super::error::{ConsumerError, OnPoisonMessage, PoisonMessage};
use super::worker::{Lead, Turn, Worker};
use crate::core::error::{error_chain, BoxError, HandlerError};
use crate::core::limits::storable_error;
use crate::core::projection::Projection;
use crate::core::read_store::{ConsumerRow, DeadLetter, ReadStore, ReadTransaction};
use crate::core::source::Checkpoint;
use crate::core::store::RecordedEvent;
use crate::core::subscribe::{Delivery, Subscriber, Subscription};
use crate::core::tenant::tenant_stream_key;

/// How one transaction over some messages ended.
enum Outcome {
    /// Committed (or nothing to commit): acknowledge them.
    Committed { applied: u64, duplicates: u64 },
    /// Another consumer had moved the row: nothing was committed.
    Fenced,
    /// The message at `index` failed; nothing was committed.
    Failed { index: usize, failure: Failure },
}

enum Failure {
    /// It is not an event (see its delivery's error).
    Unreadable,
    /// Its handler failed.
    Handler(HandlerError),
}

impl<P: Projection, B: Subscriber> Worker<P, B> {
    /// Applies `deliveries` in as few transactions as their failures allow, acknowledging each
    /// part after its commit; retries a failing message per the policy, then deals with it as
    /// poison.
    pub(super) async fn process(
        &mut self,
        lead: &mut Lead<P>,
        subscription: &mut B::Subscription,
        deliveries: &[Delivery],
    ) -> Result<Turn, ConsumerError> {
        let mut start = 0;
        let mut attempt: u32 = 0;
        while start < deliveries.len() {
            let rest = &deliveries[start..];
            let (index, failure) = match self.commit(lead, rest).await? {
                Outcome::Committed { applied, duplicates } => {
                    subscription.acknowledge(rest).await?;
                    self.committed(applied, duplicates, 0);
                    return Ok(Turn::Progress);
                }
                Outcome::Fenced => return Ok(Turn::LostLead),
                Outcome::Failed { index, failure } => (index, failure),
            };
            if index > 0 {
                // Everything before the failing message is fine: commit it by itself, then
                // the failing message comes first.
                let before = &rest[..index];
                match self.commit(lead, before).await? {
                    Outcome::Committed { applied, duplicates } => {
                        subscription.acknowledge(before).await?;
                        self.committed(applied, duplicates, 0);
                        start += index;
                        attempt = 0;
                    }
                    Outcome::Fenced => return Ok(Turn::LostLead),
                    // A handler that fails on a second run where it passed the first: start over.
                    Outcome::Failed { .. } => {}
                }
                continue;
            }
            attempt += 1;
            let delivery = &rest[0];
            let error = match failure {
                Failure::Unreadable => {
                    self.poisoned(lead, subscription, delivery, attempt, None).await?;
                    start += 1;
                    attempt = 0;
                    continue;
                }
                Failure::Handler(error) => error,
            };
            if error.is_unavailable() || P::Store::is_transient(&error) {
                // What the handler depends on is away: not the message's fault.
                return Err(ConsumerError::ReadStore(
                    crate::core::read_store::ReadStoreError::Unavailable(Box::new(error)),
                ));
            }
            if !error.is_undecodable() && attempt < self.config.retry.attempts {
                let pause = self.config.retry.delay(attempt, self.config.retry.max_backoff);
                let message = error_chain(&error);
                tracing::warn!(error = %message, ?pause, "handler failed; retrying the message");
                self.shared.observed().last_error = Some(message);
                if self.pause(pause).await {
                    // Asked to stop: the message stays unacknowledged for the next consumer.
                    return Ok(Turn::Progress);
                }
                continue;
            }
            self.poisoned(lead, subscription, delivery, attempt, Some(error))
                .await?;
            start += 1;
            attempt = 0;
        }
        Ok(Turn::Progress)
    }

    /// One transaction over `deliveries`: each event at or below its stream's consumed version
    /// is passed over, each other one applied and its stream's version recorded; the row moves
    /// to the furthest event and the highest broker sequence, fenced on its committed value.
    async fn commit(&self, lead: &mut Lead<P>, deliveries: &[Delivery]) -> Result<Outcome, ConsumerError> {
        let mut tx = P::Store::begin(&mut lead.connection).await?;
        let mut next = lead.row;
        let mut versions: HashMap<std::borrow::Cow<'_, str>, Option<u64>> = HashMap::new();
        let (mut applied, mut duplicates) = (0, 0);
        for (index, delivery) in deliveries.iter().enumerate() {
            let Ok(event) = &delivery.event else {
                let _ = tx.rollback().await;
                return Ok(Outcome::Failed {
                    index,
                    failure: Failure::Unreadable,
                });
            };
            next.broker_sequence = next.broker_sequence.max(delivery.sequence);
            // Two tenants' streams may share an id: each is recorded under its tenant's key.
            let stream = tenant_stream_key(&event.tenant, &event.stream_id);
            let consumed = match versions.get(&stream) {
                Some(version) => *version,
                None => {
                    self.store
                        .consumed_version(tx.connection(), self.name, &stream)
                        .await?
                }
            };
            if consumed >= Some(event.stream_version) {
                duplicates += 1;
                versions.insert(stream, consumed);
                continue;
            }
            if let Err(error) = self.projection.apply(event, tx.connection()).await {
                let _ = tx.rollback().await;
                return Ok(Outcome::Failed {
                    index,
                    failure: Failure::Handler(error),
                });
            }
            self.consumed(tx.connection(), event, &mut next).await?;
            versions.insert(stream, Some(event.stream_version));
            applied += 1;
        }
        if next == lead.row {
            // Only messages already applied: nothing to record.
            let _ = tx.rollback().await;
            return Ok(Outcome::Committed { applied, duplicates });
        }
        if !self
            .store
            .save_consumer(tx.connection(), self.name, Some(lead.row), next)
            .await?
        {
            let _ = tx.rollback().await;
            return Ok(Outcome::Fenced);
        }
        tx.commit().await?;
        lead.row = next;
        self.shared.progress.send_modify(|count| *count += 1);
        Ok(Outcome::Committed { applied, duplicates })
    }

    /// Records that `event` was consumed (its stream's version, under its tenant's key; the
    /// row's furthest event).
    async fn consumed(
        &self,
        connection: &mut <P::Store as ReadStore>::Connection,
        event: &RecordedEvent,
        next: &mut ConsumerRow,
    ) -> Result<(), ConsumerError> {
        let stream = tenant_stream_key(&event.tenant, &event.stream_id);
        self.store
            .save_consumed_version(connection, self.name, &stream, event.stream_version)
            .await?;
        let checkpoint = Checkpoint::of(event);
        if checkpoint > next.checkpoint {
            next.checkpoint = checkpoint;
            next.last_recorded_at = Some(event.recorded_at);
        }
        Ok(())
    }

    /// A message that kept failing (`error`), or is not an event (`None`): stop, dead-letter it,
    /// or reject it to the broker, per the policy.
    async fn poisoned(
        &mut self,
        lead: &mut Lead<P>,
        subscription: &mut B::Subscription,
        delivery: &Delivery,
        attempts: u32,
        error: Option<HandlerError>,
    ) -> Result<(), ConsumerError> {
        let (what, source): (String, BoxError) = match (&delivery.event, error) {
            (Ok(event), Some(error)) => (name_event(event), Box::new(error)),
            (Err(unreadable), _) => (
                PoisonMessage::name_unreadable(unreadable),
                Box::new(std::io::Error::other(unreadable.problem.clone())),
            ),
            (Ok(event), None) => (name_event(event), "no error".into()),
        };
        let poison = PoisonMessage {
            consumer: self.name,
            broker: self.broker.clone(),
            what,
            attempts,
            source,
        };
        let message = error_chain(&poison);
        self.shared.observed().last_error = Some(message.clone());
        match (self.config.on_poison, &delivery.event) {
            (OnPoisonMessage::Stop, _) => Err(ConsumerError::Poison(Box::new(poison))),
            (OnPoisonMessage::DeadLetter, Ok(event)) => {
                tracing::error!(error = %message, "poison message; dead-lettering it");
                self.dead_letter(lead, event, message).await?;
                subscription.acknowledge(std::slice::from_ref(delivery)).await?;
                self.committed(0, 0, 1);
                Ok(())
            }
            (OnPoisonMessage::DeadLetter | OnPoisonMessage::Reject, _) => {
                tracing::error!(error = %message, "poison message; rejecting it to the broker's dead-letter route");
                subscription.reject(delivery).await?;
                self.committed(0, 0, 1);
                Ok(())
            }
        }
    }

    /// Records `event` in the dead letters, in the transaction that counts it as consumed.
    async fn dead_letter(
        &self,
        lead: &mut Lead<P>,
        event: &RecordedEvent,
        error: String,
    ) -> Result<(), ConsumerError> {
        let letter = DeadLetter {
            projection: self.name.to_owned(),
            version: self.version(),
            position: event.position,
            transaction_id: event.transaction_id,
            event_id: Some(event.event_id),
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            error: storable_error(error),
            recorded_at: Utc::now(),
            retry_requested_at: None,
        };
        let mut tx = P::Store::begin(&mut lead.connection).await?;
        let mut next = lead.row;
        self.store.record_dead_letter(tx.connection(), &letter).await?;
        self.consumed(tx.connection(), event, &mut next).await?;
        if !self
            .store
            .save_consumer(tx.connection(), self.name, Some(lead.row), next)
            .await?
        {
            let _ = tx.rollback().await;
            return Err(ConsumerError::ReadStore(
                crate::core::read_store::ReadStoreError::Unavailable(
                    "another consumer of the name took over while a dead letter was recorded".into(),
                ),
            ));
        }
        tx.commit().await?;
        lead.row = next;
        self.shared.progress.send_modify(|count| *count += 1);
        Ok(())
    }

    fn committed(&self, applied: u64, duplicates: u64, poisoned: u64) {
        let mut observed = self.shared.observed();
        observed.applied += applied;
        observed.duplicates += duplicates;
        observed.poisoned += poisoned;
    }
}

/// What names an event in a poison message's error.
fn name_event(event: &RecordedEvent) -> String {
    format!(
        "event {} (type `{}`, version {}; stream `{}` version {}, position {})",
        event.event_id,
        event.event_type,
        event.event_version,
        event.stream_id,
        event.stream_version,
        event.position
    )
}
