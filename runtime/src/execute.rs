//! Executing commands: load the aggregate, decide, append with optimistic concurrency, retry.
//! Also reading an aggregate back: its state now or earlier, and its history with metadata.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::Instrument;
use uuid::Uuid;

use crate::aggregate::{stream_id, Aggregate, Handle};
use crate::cache::{StateCache, DEFAULT_CACHE_CAPACITY};
use crate::command::{Command, Receipt, RejectionOf};
use crate::error::{CommandError, StoreError};
use crate::event::{DecodeError, Envelope, EventSet};
use crate::metadata::{CommandContext, Metadata};
use crate::store::{EventStore, NewEvent, RecordedEvent, Snapshot};

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
    cache: Arc<StateCache>,
}

/// An aggregate's state as rebuilt from its stream.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    /// The state after the last event.
    pub state: A,
    /// The stream's version: how many events were applied.
    pub version: u64,
    /// The stream version of the snapshot the state was rebuilt from, if one was used (then
    /// only the events after it were read).
    pub snapshot: Option<u64>,
}

/// How much of a stream a load applies.
#[derive(Debug, Clone, Copy)]
enum Horizon {
    /// Every event.
    Latest,
    /// The events up to and including this stream version.
    Version(u64),
    /// The events recorded at or before this time.
    Time(DateTime<Utc>),
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
                    if !from_cache {
                        tokio::time::sleep(backoff(attempt)).await;
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

    /// Rebuilds the current state of aggregate `A` with the given id from its events (from its
    /// newest usable snapshot on, for aggregates declared with `snapshot_every`).
    ///
    /// This is for tests, tools and time travel; queries should read projections instead.
    pub async fn load<A: Aggregate>(&self, id: impl ToString) -> Result<Loaded<A>, StoreError> {
        self.load_stream(&stream_id::<A>(&id.to_string())).await
    }

    /// The state of aggregate `A` as it was at stream version `version`: after its first
    /// `version` events. A stream with fewer events loads whole; [`Loaded::version`] says how
    /// many were applied.
    pub async fn load_at_version<A: Aggregate>(
        &self,
        id: impl ToString,
        version: u64,
    ) -> Result<Loaded<A>, StoreError> {
        self.load_until(&stream_id::<A>(&id.to_string()), Horizon::Version(version))
            .await
    }

    /// The state of aggregate `A` as it was at `at`: after the events its store recorded at or
    /// before that time (their `recorded_at`, the store's clock), in stream order. Loading stops
    /// at the first event recorded later, so the state is always one the stream went through.
    pub async fn load_as_of<A: Aggregate>(
        &self,
        id: impl ToString,
        at: DateTime<Utc>,
    ) -> Result<Loaded<A>, StoreError> {
        self.load_until(&stream_id::<A>(&id.to_string()), Horizon::Time(at))
            .await
    }

    /// The stream of aggregate `A` with the given id, decoded, each event with its envelope:
    /// position, stream version, event id, stored type and version, [`Metadata`] and recorded
    /// time, in stream order. The audit log of one aggregate.
    pub async fn history<A: Aggregate>(
        &self,
        id: impl ToString,
    ) -> Result<Vec<Envelope<A::Event>>, StoreError> {
        let recorded = self
            .store
            .read_stream(&stream_id::<A>(&id.to_string()), 0)
            .await?;
        recorded.into_iter().map(Envelope::decode).collect()
    }

    /// Loads aggregate `A` and writes a snapshot of it now (commands write them in the
    /// background every `snapshot_every` events; this is for tools, warming a store after
    /// `snapshot_version` changed, and benchmarks). Returns the stream version snapshotted:
    /// `None` when `A` keeps no snapshots or the stream is empty.
    pub async fn take_snapshot<A: Aggregate>(&self, id: impl ToString) -> Result<Option<u64>, StoreError> {
        if A::SNAPSHOT_EVERY == 0 {
            return Ok(None);
        }
        let stream = stream_id::<A>(&id.to_string());
        let loaded = self.load_stream::<A>(&stream).await?;
        if loaded.version == 0 {
            return Ok(None);
        }
        write_snapshot(&self.store, stream, &loaded.state, loaded.version).await?;
        Ok(Some(loaded.version))
    }

    /// Applies the events appended to `stream` after `loaded` was read.
    async fn catch_up<A: Aggregate>(
        &self,
        stream: &str,
        mut loaded: Loaded<A>,
    ) -> Result<Loaded<A>, StoreError> {
        for event in &self.store.read_stream(stream, loaded.version).await? {
            loaded.state.apply(&decode_recorded::<A::Event>(event)?);
            loaded.version = event.stream_version;
        }
        Ok(loaded)
    }

    async fn load_stream<A: Aggregate>(&self, stream: &str) -> Result<Loaded<A>, StoreError> {
        self.load_until(stream, Horizon::Latest).await
    }

    async fn load_until<A: Aggregate>(
        &self,
        stream: &str,
        horizon: Horizon,
    ) -> Result<Loaded<A>, StoreError> {
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
            snapshot: None,
        };
        let mut replace_snapshot = false;
        let usable_up_to = match horizon {
            Horizon::Latest => Some(u64::MAX),
            Horizon::Version(version) => Some(version),
            // When the events up to a snapshot were recorded is not known without reading them.
            Horizon::Time(_) => None,
        };
        if let (true, Some(limit)) = (A::SNAPSHOT_EVERY > 0, usable_up_to) {
            match self.store.read_snapshot(stream).await {
                Ok(Some(snapshot)) => match restore::<A>(&snapshot) {
                    Ok(state) if snapshot.stream_version <= limit => {
                        loaded.state = state;
                        loaded.version = snapshot.stream_version;
                        loaded.snapshot = Some(snapshot.stream_version);
                    }
                    Ok(_) => {}
                    Err(reason) => {
                        replace_snapshot = true;
                        if snapshot.snapshot_version == A::SNAPSHOT_VERSION {
                            tracing::warn!(
                                stream = %stream,
                                snapshot = snapshot.stream_version,
                                %reason,
                                "ignoring a snapshot that cannot be read; loading from the first event"
                            );
                        } else {
                            tracing::info!(
                                stream = %stream,
                                snapshot = snapshot.stream_version,
                                %reason,
                                "ignoring a snapshot of another shape; loading from the first event"
                            );
                        }
                    }
                },
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    stream = %stream,
                    %error,
                    "cannot read the snapshot; loading from the first event"
                ),
            }
        }
        let recorded = self.store.read_stream(stream, loaded.version).await?;
        for event in &recorded {
            let past = match horizon {
                Horizon::Latest => false,
                Horizon::Version(version) => event.stream_version > version,
                Horizon::Time(at) => event.recorded_at > at,
            };
            if past {
                break;
            }
            loaded.state.apply(&decode_recorded::<A::Event>(event)?);
            loaded.version = event.stream_version;
        }
        if replace_snapshot && loaded.version > 0 && matches!(horizon, Horizon::Latest) {
            self.snapshot_in_background(stream.to_owned(), loaded.state.clone(), loaded.version)
                .await;
        }
        Ok(loaded)
    }

    /// Writes a snapshot without holding up the caller: on a task of its own when a Tokio
    /// runtime is running (else right away). A failure is only logged: snapshots are a cache.
    async fn snapshot_in_background<A: Aggregate>(&self, stream: String, state: A, version: u64) {
        let store = self.store.clone();
        let span = tracing::debug_span!("chronicle.snapshot", stream = %stream, version);
        let write = async move {
            match write_snapshot(&store, stream, &state, version).await {
                Ok(()) => tracing::debug!("snapshot written"),
                Err(error) => tracing::warn!(%error, "cannot write a snapshot; the next one may succeed"),
            }
        }
        .instrument(span);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(write)),
            Err(_) => write.await,
        }
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

/// Serializes `state` and stores it as the snapshot of `stream` at `version`.
async fn write_snapshot<A: Aggregate, S: EventStore>(
    store: &S,
    stream: String,
    state: &A,
    version: u64,
) -> Result<(), StoreError> {
    let Some(encoded) = state.to_snapshot() else {
        return Ok(());
    };
    let state = encoded.map_err(|source| StoreError::Encode {
        event_type: A::NAME,
        source,
    })?;
    store
        .write_snapshot(Snapshot {
            stream_id: stream,
            aggregate_type: A::NAME.to_owned(),
            snapshot_version: A::SNAPSHOT_VERSION,
            stream_version: version,
            state,
            taken_at: Utc::now(),
        })
        .await
}

/// The state in `snapshot`, or why it cannot be used.
fn restore<A: Aggregate>(snapshot: &Snapshot) -> Result<A, String> {
    if snapshot.aggregate_type != A::NAME {
        return Err(format!(
            "it is a snapshot of aggregate `{}`, not `{}`",
            snapshot.aggregate_type,
            A::NAME
        ));
    }
    if snapshot.snapshot_version != A::SNAPSHOT_VERSION {
        return Err(format!(
            "its snapshot_version is {}, the aggregate's is {}",
            snapshot.snapshot_version,
            A::SNAPSHOT_VERSION
        ));
    }
    match A::from_snapshot(&snapshot.state) {
        Some(Ok(state)) => Ok(state),
        Some(Err(error)) => Err(format!("its state does not match the aggregate's: {error}")),
        None => Err("the aggregate cannot read snapshots".to_owned()),
    }
}

/// Decodes a stored event into the aggregate's event enum, naming the row on failure.
pub fn decode_recorded<E: EventSet>(event: &RecordedEvent) -> Result<E, StoreError> {
    E::decode(&event.event_type, event.event_version, &event.payload).map_err(|error| match error {
        DecodeError::UnknownType(_) => StoreError::UnknownEventType {
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            event_version: event.event_version,
        },
        DecodeError::UnknownVersion {
            rust_type,
            oldest,
            current,
            ..
        } => StoreError::UnknownEventVersion {
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            event_version: event.event_version,
            rust_type,
            oldest,
            current,
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
