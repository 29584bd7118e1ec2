//! Executing commands: load the aggregate, decide, append with optimistic concurrency, retry.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::cache::{StateCache, DEFAULT_CACHE_CAPACITY};
use super::load::Loaded;
use super::retry::{backoff, DEFAULT_MAX_ATTEMPTS};
use crate::core::aggregate::{Aggregate, Handle};
use crate::core::command::{Command, RejectionOf};
use crate::core::error::{CommandError, StoreError};
use crate::core::event::EventSet;
use crate::core::metadata::{CommandContext, Metadata};
use crate::core::store::{EventStore, NewEvent, Receipt};
use crate::core::stream::{check_stream_id, stream_id};

/// The entry point of the write side: executes commands against an [`EventStore`], and reads
/// aggregates back (their state now or earlier, their history).
///
/// Cheap to clone; clones share the store, the registered services and the state cache.
#[derive(Clone)]
pub struct Chronicle<S> {
    pub(super) store: S,
    services: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    max_attempts: u32,
    cache: Arc<StateCache>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Chronicle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chronicle")
            .field("store", &self.store)
            .field("max_attempts", &self.max_attempts)
            .field("services", &self.services.len())
            .finish_non_exhaustive()
    }
}

impl<S: EventStore> Chronicle<S> {
    /// A command executor on `store`, with no services and the default retry bound.
    pub fn new(store: S) -> Self {
        Self {
            store,
            services: Arc::default(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            cache: Arc::new(StateCache::new(DEFAULT_CACHE_CAPACITY)),
        }
    }

    /// Sets how many aggregates this process keeps in memory between commands (default
    /// [`DEFAULT_CACHE_CAPACITY`]; 0 replays every aggregate on every command). A cached state is
    /// checked by the store's version check on append, so another process writing the same
    /// aggregate costs a re-read, never a wrong decision.
    pub fn with_cache_capacity(mut self, aggregates: usize) -> Self {
        self.cache = Arc::new(StateCache::new(aggregates));
        self
    }

    /// Registers the services that the command handlers of aggregate `A` receive.
    pub fn with_services<A: Aggregate>(mut self, services: A::Services) -> Self {
        Arc::make_mut(&mut self.services).insert(TypeId::of::<A>(), Arc::new(services));
        self
    }

    /// Sets how many times a command is tried when its stream keeps moving (at least 1; see
    /// [`DEFAULT_MAX_ATTEMPTS`] for what the default allows in time).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Executes a command with generated ids and no actor. See [`Chronicle::execute_with`].
    pub async fn execute<C: Command>(&self, command: C) -> Result<Receipt, CommandError<RejectionOf<C>>> {
        self.execute_with(command, CommandContext::new()).await
    }

    /// Executes a command: loads its aggregate, lets it decide, and appends the events with the
    /// version it decided on. When another writer got there first, it reloads and decides again,
    /// up to the configured number of attempts.
    ///
    /// A command whose id was already executed returns the original receipt and appends nothing.
    #[tracing::instrument(
        name = "chronicle.execute",
        skip_all,
        fields(aggregate = C::Aggregate::NAME, id = %command.aggregate_id())
    )]
    pub async fn execute_with<C: Command>(
        &self,
        command: C,
        context: CommandContext,
    ) -> Result<Receipt, CommandError<RejectionOf<C>>> {
        let stream = stream_of::<C::Aggregate>(&command.aggregate_id())?;
        let services = self.services::<C::Aggregate, RejectionOf<C>>()?;
        let metadata = context.into_metadata();
        // A state not read from the stream now (cached, or the empty state of a command that
        // creates its aggregate) is a guess: the append's version check proves it, and rejections
        // and no-ops decided on it are checked against the stream.
        let mut cached = self.cache.get::<C::Aggregate>(&stream);
        if cached.is_none() && C::CREATES {
            cached = Some((C::Aggregate::default(), 0));
        }
        for attempt in 1..=self.max_attempts {
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
                self.cache.put(&stream, loaded.state, loaded.version);
                return Ok(Receipt {
                    stream_id: stream,
                    stream_version: loaded.version,
                    position: None,
                });
            }
            let new_events = encode(&events, &metadata)?;
            match self.store.append(&stream, loaded.version, new_events).await {
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
                    self.cache.put(&stream, state, receipt.stream_version);
                    return Ok(receipt);
                }
                Err(StoreError::Conflict { .. }) | Err(StoreError::DuplicateEvent { .. }) => {
                    if let Some(receipt) = self.store.find_command(metadata.command_id).await? {
                        return Ok(receipt);
                    }
                    tracing::debug!(attempt, stream = %stream, from_cache, "concurrency conflict, retrying");
                    // Read only what was appended since the state we decided on.
                    match self.catch_up(&stream, loaded).await {
                        Ok(caught_up) => cached = Some((caught_up.state, caught_up.version)),
                        Err(error) => {
                            self.cache.forget(&stream);
                            return Err(error.into());
                        }
                    }
                    // Every conflict backs off, whether the state came from the cache or the stream:
                    // writers that collided must not collide again at once.
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(CommandError::Concurrency {
            stream_id: stream,
            attempts: self.max_attempts,
        })
    }

    fn services<A: Aggregate, E>(&self) -> Result<&A::Services, CommandError<E>> {
        const UNIT: &(dyn Any + Send + Sync) = &();
        let registered = self.services.get(&TypeId::of::<A>()).map(|s| &**s);
        registered
            .unwrap_or(UNIT)
            .downcast_ref::<A::Services>()
            .ok_or(CommandError::ServicesMissing { aggregate: A::NAME })
    }
}

/// The stream of aggregate `A` with the given id, checked against the limits every store keeps.
pub(super) fn stream_of<A: Aggregate>(id: &str) -> Result<String, StoreError> {
    let stream = stream_id::<A>(id);
    check_stream_id(&stream)?;
    Ok(stream)
}

/// Serializes a command's events with their metadata; event ids derive from the command id so a
/// re-submitted command collides with its first run on the store's unique event id.
fn encode<E: EventSet>(events: &[E], metadata: &Metadata) -> Result<Vec<NewEvent>, StoreError> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let payload = event.to_payload().map_err(|source| StoreError::Encode {
                event_type: event.event_type(),
                source,
            })?;
            Ok(NewEvent {
                event_id: Uuid::new_v5(&metadata.command_id, &(index as u64).to_be_bytes()),
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload,
                metadata: metadata.clone(),
            })
        })
        .collect()
}
