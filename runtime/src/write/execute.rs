//! Executing commands: load the aggregate, decide, append with optimistic concurrency, retry.

use std::time::Instant;

use uuid::Uuid;

use super::chronicle::{stream_of, Chronicle};
use super::load::Loaded;
use super::retry::backoff;
use crate::core::aggregate::{Aggregate, Handle};
use crate::core::command::{Command, RejectionOf};
use crate::core::error::{CommandError, StoreError};
use crate::core::event::EventSet;
use crate::core::metadata::{CommandContext, Metadata};
use crate::core::metrics::{append_took, command_executed};
use crate::core::store::{EventStore, NewEvent, Receipt};
use crate::core::tenant::Tenant;

impl<S: EventStore> Chronicle<S> {
    /// Executes a command with generated ids and no actor. See [`Chronicle::execute_with`].
    pub async fn execute<C: Command>(&self, command: C) -> Result<Receipt, CommandError<RejectionOf<C>>> {
        self.execute_with(command, CommandContext::new()).await
    }

    /// Executes a command: loads its aggregate, lets it decide, and appends the events with the
    /// version it decided on. When another writer got there first, it reloads and decides again,
    /// up to the configured number of attempts.
    ///
    /// A command whose id was already executed returns the original receipt and appends nothing.
    ///
    /// Traced as the span `chronicle.execute`: the command's type, aggregate and id, its command
    /// and correlation ids (which its events' metadata carry on, to the append's span inside it
    /// and to the projection batches and relay publishes that handle them), the attempts it took
    /// and its outcome (`appended`, `unchanged`, `rejected`, `conflicted` or `failed`). Counted
    /// in the metric `chronicle_commands_total` by the same outcome, with each attempt tried
    /// again as `retried`; each append's duration is `chronicle_append_duration_seconds`.
    #[tracing::instrument(
        name = "chronicle.execute",
        skip_all,
        fields(
            command = std::any::type_name::<C>(),
            aggregate = C::Aggregate::NAME,
            id = %command.aggregate_id(),
            command_id = tracing::field::Empty,
            correlation_id = tracing::field::Empty,
            attempts = tracing::field::Empty,
            outcome = tracing::field::Empty,
        )
    )]
    pub async fn execute_with<C: Command>(
        &self,
        command: C,
        context: CommandContext,
    ) -> Result<Receipt, CommandError<RejectionOf<C>>> {
        let mut attempts = 0;
        let result = self.decide_and_append(command, context, &mut attempts).await;
        let outcome = outcome(&result);
        let span = tracing::Span::current();
        if attempts > 0 {
            span.record("attempts", attempts);
        }
        span.record("outcome", outcome);
        command_executed(std::any::type_name::<C>(), outcome, attempts.saturating_sub(1));
        result
    }

    /// The body of [`execute_with`](Self::execute_with), inside its span; `attempts` counts the
    /// attempts begun.
    async fn decide_and_append<C: Command>(
        &self,
        command: C,
        context: CommandContext,
        attempts: &mut u32,
    ) -> Result<Receipt, CommandError<RejectionOf<C>>> {
        let span = tracing::Span::current();
        let stream = stream_of::<C::Aggregate>(&command.aggregate_id())?;
        // Other commands on the stream in this process wait until this one is decided.
        let key = self.stream_key(&stream);
        let _turn = self.turns.take(&key).await;
        let services = self.services::<C::Aggregate, RejectionOf<C>>()?;
        let metadata = context.into_metadata();
        span.record("command_id", tracing::field::display(metadata.command_id));
        span.record("correlation_id", tracing::field::display(metadata.correlation_id));
        // A state not read from the stream now (cached, or the empty state of a command that
        // creates its aggregate) is a guess: the append's version check proves it, and rejections
        // and no-ops decided on it are checked against the stream.
        let mut cached = self.cache.get::<C::Aggregate>(&key);
        if cached.is_none() && C::CREATES {
            cached = Some((C::Aggregate::default(), 0));
        }
        for attempt in 1..=self.max_attempts {
            *attempts = attempt;
            let from_cache = cached.is_some();
            let loaded = match cached.take() {
                Some((state, version)) => Loaded {
                    state,
                    version,
                    snapshot: None,
                },
                None => self.load_stream::<C::Aggregate>(&stream).await?,
            };
            let decision = loaded.state.handle(&command, services);
            // Only an append proves a cached state current; a rejection or a no-op decided on
            // it is checked against the stream first.
            let decided_on_stale_state = match &decision {
                Ok(events) if !events.is_empty() => false,
                _ if from_cache => {
                    let caught_up = self.catch_up(&stream, loaded.clone()).await?;
                    let moved = caught_up.version != loaded.version;
                    if moved {
                        cached = Some((caught_up.state, caught_up.version));
                    }
                    moved
                }
                _ => false,
            };
            if decided_on_stale_state {
                continue;
            }
            let events = match decision {
                Ok(events) => events,
                Err(rejection) => {
                    // A re-submitted command may be rejected by the state it created itself.
                    return match self.store.find_command(metadata.command_id).await? {
                        Some(receipt) => Ok(receipt),
                        None => Err(CommandError::Rejected(rejection)),
                    };
                }
            };
            if events.is_empty() {
                self.cache.put(&key, loaded.state, loaded.version);
                return Ok(Receipt {
                    tenant: self.tenant().as_str().to_owned(),
                    stream_id: stream,
                    stream_version: loaded.version,
                    position: None,
                });
            }
            let new_events = self
                .sealed(&events, encode(&events, &metadata, self.store.tenant())?)
                .await?;
            let started = Instant::now();
            let appended = self.store.append(&stream, loaded.version, new_events).await;
            append_took(C::Aggregate::NAME, started.elapsed());
            match appended {
                Ok(receipt) => {
                    let mut state = loaded.state;
                    for event in &events {
                        state.apply(event);
                    }
                    let every = C::Aggregate::SNAPSHOT_EVERY;
                    if every > 0 && receipt.stream_version / every > loaded.version / every {
                        self.snapshot_in_background(stream.clone(), state.clone(), receipt.stream_version)
                            .await;
                    }
                    self.cache.put(&key, state, receipt.stream_version);
                    return Ok(receipt);
                }
                Err(StoreError::Conflict { .. }) | Err(StoreError::DuplicateEvent { .. }) => {
                    if let Some(receipt) = self.store.find_command(metadata.command_id).await? {
                        return Ok(receipt);
                    }
                    tracing::debug!(attempt, stream = %stream, from_cache, "concurrency conflict, retrying");
                    // Every conflict backs off, whether the state came from the cache or the stream,
                    // so that writers that collided do not collide again at once; and before the
                    // stream is read again, or what is read would be stale by the next attempt.
                    tokio::time::sleep(backoff(attempt)).await;
                    // Read only what was appended since the state we decided on.
                    match self.catch_up(&stream, loaded).await {
                        Ok(caught_up) => cached = Some((caught_up.state, caught_up.version)),
                        Err(error) => {
                            self.cache.forget(&key);
                            return Err(error.into());
                        }
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(CommandError::Concurrency {
            stream_id: stream,
            attempts: self.max_attempts,
        })
    }
}

/// How a command ended, in the words of its span and its metric.
fn outcome<E>(result: &Result<Receipt, CommandError<E>>) -> &'static str {
    match result {
        Ok(receipt) if receipt.position.is_some() => "appended",
        Ok(_) => "unchanged",
        Err(CommandError::Rejected(_)) => "rejected",
        Err(CommandError::Concurrency { .. }) => "conflicted",
        Err(_) => "failed",
    }
}

/// Serializes a command's events with their metadata; event ids derive from the command id so a
/// re-submitted command collides with its first run on the store's unique event id. A tenant's
/// ids derive from its id too, so that two tenants may send the same command ids.
fn encode<E: EventSet>(
    events: &[E],
    metadata: &Metadata,
    tenant: &Tenant,
) -> Result<Vec<NewEvent>, StoreError> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let payload = event.to_payload().map_err(|source| StoreError::Encode {
                event_type: event.event_type(),
                source,
            })?;
            Ok(NewEvent {
                event_id: event_id(metadata.command_id, tenant, index),
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload,
                metadata: metadata.clone(),
            })
        })
        .collect()
}

/// The id of the `index`th event of a command: derived from the command id and the index, and
/// the tenant's id when there is one (without, the ids are those of earlier versions).
fn event_id(command_id: Uuid, tenant: &Tenant, index: usize) -> Uuid {
    let index = (index as u64).to_be_bytes();
    if tenant.is_none() {
        return Uuid::new_v5(&command_id, &index);
    }
    // A NUL ends the tenant's id, so no id and index run into another's.
    let name = [tenant.as_str().as_bytes(), b"\0", &index].concat();
    Uuid::new_v5(&command_id, &name)
}
