//! Executing commands: load the aggregate, decide, append with optimistic concurrency, retry.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::aggregate::{stream_id, Aggregate, Handle};
use crate::command::{Command, Receipt, RejectionOf};
use crate::error::{CommandError, StoreError};
use crate::event::{DecodeError, EventSet};
use crate::metadata::{CommandContext, Metadata};
use crate::store::{EventStore, NewEvent, RecordedEvent};

/// How many times a command is tried when concurrent writers keep moving its stream.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 16;

/// The entry point of the write side: executes commands against an [`EventStore`].
///
/// Cheap to clone; clones share the store and the registered services.
#[derive(Clone)]
pub struct Chronicle<S> {
    store: S,
    services: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    max_attempts: u32,
}

/// An aggregate's state as rebuilt from its stream.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    /// The state after the last event.
    pub state: A,
    /// The stream's version: how many events were applied.
    pub version: u64,
}

impl<S: EventStore> Chronicle<S> {
    /// A command executor on `store`, with no services and the default retry bound.
    pub fn new(store: S) -> Self {
        Self {
            store,
            services: Arc::default(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Registers the services that the command handlers of aggregate `A` receive.
    pub fn with_services<A: Aggregate>(mut self, services: A::Services) -> Self {
        Arc::make_mut(&mut self.services).insert(TypeId::of::<A>(), Arc::new(services));
        self
    }

    /// Sets how many times a command is tried when its stream keeps moving (at least 1).
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
        let stream = stream_id::<C::Aggregate>(&command.aggregate_id());
        let services = self.services::<C::Aggregate, RejectionOf<C>>()?;
        let metadata = context.into_metadata();
        for attempt in 1..=self.max_attempts {
            let loaded = self.load_stream::<C::Aggregate>(&stream).await?;
            let events = match loaded.state.handle(&command, services) {
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
                return Ok(Receipt {
                    stream_id: stream,
                    stream_version: loaded.version,
                    position: None,
                });
            }
            let new_events = encode(&events, &metadata)?;
            match self.store.append(&stream, loaded.version, new_events).await {
                Ok(receipt) => return Ok(receipt),
                Err(StoreError::Conflict { .. }) | Err(StoreError::DuplicateEvent { .. }) => {
                    if let Some(receipt) = self.store.find_command(metadata.command_id).await? {
                        return Ok(receipt);
                    }
                    tracing::debug!(attempt, stream = %stream, "concurrency conflict, retrying");
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

    /// Rebuilds the current state of aggregate `A` with the given id from its events.
    ///
    /// This is for tests, tools and time travel; queries should read projections instead.
    pub async fn load<A: Aggregate>(&self, id: impl ToString) -> Result<Loaded<A>, StoreError> {
        self.load_stream(&stream_id::<A>(&id.to_string())).await
    }

    async fn load_stream<A: Aggregate>(&self, stream: &str) -> Result<Loaded<A>, StoreError> {
        let recorded = self.store.read_stream(stream, 0).await?;
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
        };
        for event in &recorded {
            loaded.state.apply(&decode_recorded::<A::Event>(event)?);
            loaded.version = event.stream_version;
        }
        Ok(loaded)
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

/// Decodes a stored event into the aggregate's event enum, naming the row on failure.
pub fn decode_recorded<E: EventSet>(event: &RecordedEvent) -> Result<E, StoreError> {
    E::decode(&event.event_type, event.event_version, &event.payload).map_err(|error| match error {
        DecodeError::UnknownType(_) | DecodeError::UnknownVersion { .. } => StoreError::UnknownEventType {
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            event_version: event.event_version,
        },
        DecodeError::Payload(source) => StoreError::Undecodable {
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            event_version: event.event_version,
            source,
        },
    })
}

/// Serializes a command's events with their metadata; event ids derive from the command id so a
/// re-submitted command collides with its first run on the store's unique event id.
pub(crate) fn encode<E: EventSet>(events: &[E], metadata: &Metadata) -> Result<Vec<NewEvent>, StoreError> {
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

/// Exponential backoff with full jitter, so that writers that collided do not collide again.
fn backoff(attempt: u32) -> Duration {
    let ceiling_micros = 500u64 << attempt.min(7);
    let jitter = RandomState::new().hash_one(attempt) % ceiling_micros;
    Duration::from_micros(jitter)
}
