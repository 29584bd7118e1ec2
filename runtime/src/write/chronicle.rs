//! The entry point of the write side, [`Chronicle`]: its store, services, cache and retry bound.
//! What it does is in the files beside: `execute.rs` (commands), `load.rs` (reading aggregates
//! back), `snapshot.rs`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use super::cache::{StateCache, DEFAULT_CACHE_CAPACITY};
use super::retry::DEFAULT_MAX_ATTEMPTS;
use super::turns::Turns;
use crate::core::aggregate::{stream_id, Aggregate};
use crate::core::error::{CommandError, StoreError};
use crate::core::limits::check_stream_id;
use crate::core::pii::keys::SharedKeyStore;
use crate::core::store::EventStore;
use crate::core::tenant::{tenant_stream_key, Tenant};

/// The entry point of the write side: executes commands against an [`EventStore`], and reads
/// aggregates back (their state now or earlier, their history).
///
/// Commands on one aggregate take turns within a process (clones of a `Chronicle` share the
/// turns): each decides on the state the one before it left, so they do not conflict with each
/// other. Commands of other processes are met by the store's version check and retried with
/// backoff, up to [`DEFAULT_MAX_ATTEMPTS`] times by default.
///
/// Cheap to clone; clones share the store, the registered services, the state cache and the
/// turns.
#[derive(Clone)]
pub struct Chronicle<S> {
    pub(super) store: S,
    services: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    pub(super) max_attempts: u32,
    pub(super) cache: Arc<StateCache>,
    pub(super) turns: Arc<Turns>,
    /// The key store of `#[pii]` fields: the store's own unless another was given.
    pub(super) keys: Option<SharedKeyStore>,
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
            services: Arc::default(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            cache: Arc::new(StateCache::new(DEFAULT_CACHE_CAPACITY)),
            turns: Arc::default(),
            keys: store.key_store(),
            store,
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

    /// The same executor bound to `tenant`: its commands write and read that tenant's streams
    /// only ([`EventStore::for_tenant`]), so a command on `Account-1` here never sees another
    /// tenant's `Account-1`. Services, the retry bound, the state cache and the turns are
    /// shared with `self`; their entries are per tenant and stream.
    pub fn for_tenant(&self, tenant: Tenant) -> Self {
        Self {
            store: self.store.for_tenant(tenant),
            services: self.services.clone(),
            max_attempts: self.max_attempts,
            cache: self.cache.clone(),
            turns: self.turns.clone(),
            keys: self.keys.clone(),
        }
    }

    /// The tenant this executor is bound to ([`Tenant::none`] unless [`for_tenant`](Self::for_tenant)).
    pub fn tenant(&self) -> &Tenant {
        self.store.tenant()
    }

    /// What the cache and the turns know `stream` of this tenant by ([`tenant_stream_key`]).
    pub(super) fn stream_key(&self, stream: &str) -> String {
        tenant_stream_key(self.store.tenant().as_str(), stream).into_owned()
    }

    pub(super) fn services<A: Aggregate, E>(&self) -> Result<&A::Services, CommandError<E>> {
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
