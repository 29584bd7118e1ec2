//! Connections the Postgres store holds itself, for the statements on a command's path.
//!
//! sqlx's pool tests every connection handed back to it with a ping, in a task it spawns for the
//! purpose: one more round trip and one more task per statement, which cost a single client about
//! a third of its appends per second. The store's own statements therefore run on connections it
//! keeps in a small list of its own and hands back without a test. A connection whose statement
//! failed for any reason but the database's answer about the statement (a network error, a
//! cancelled call, a session the server ended) is closed instead of handed back, and so is every
//! idle connection opened before it: a server that dropped one (a restart, a failover) has
//! dropped them all, and each would otherwise fail one more statement.
//!
//! New connections come from the pool itself, detached from it: opened with its options and
//! hooks, and no longer counted against its size.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::Connection as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::errors::{connection_survives, store_error};
use crate::core::error::StoreError;

/// Up to as many connections as a pool may open, taken from it, reused while they keep working.
pub(crate) struct DirectConnections {
    pool: PgPool,
    idle: Mutex<Idle>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    /// A connection idle longer than this is closed rather than reused: the server or a proxy
    /// may have dropped it meanwhile.
    idle_timeout: Duration,
}

/// The connections waiting for a statement, and the generation new ones are opened in.
struct Idle {
    connections: Vec<Parked>,
    /// Bumped whenever a connection is found dead: connections of an older generation were
    /// opened before it died, and are not reused.
    generation: u64,
}

struct Parked {
    connection: PgConnection,
    since: Instant,
    generation: u64,
}

/// How long an idle connection is kept when the pool sets no idle timeout of its own.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

impl DirectConnections {
    /// As many connections as `pool` may open, taken from it as needed.
    pub(crate) fn of_pool(pool: &PgPool) -> Self {
        let options = pool.options();
        let max = usize::try_from(options.get_max_connections()).unwrap_or(1).max(1);
        Self {
            pool: pool.clone(),
            idle: Mutex::new(Idle {
                connections: Vec::with_capacity(max),
                generation: 0,
            }),
            permits: Arc::new(Semaphore::new(max)),
            acquire_timeout: options.get_acquire_timeout(),
            idle_timeout: options.get_idle_timeout().unwrap_or(DEFAULT_IDLE_TIMEOUT),
        }
    }

    /// A connection for one statement (or one transaction): an idle one, or a new one while
    /// fewer than the maximum are open. Waits at most the pool's acquire timeout.
    pub(crate) async fn acquire(&self) -> Result<DirectConnection<'_>, StoreError> {
        let waited = tokio::time::timeout(self.acquire_timeout, Arc::clone(&self.permits).acquire_owned());
        let permit = match waited.await {
            Ok(Ok(permit)) => permit,
            // The semaphore is never closed; a timeout means every connection stayed busy.
            Ok(Err(_)) | Err(_) => {
                return Err(StoreError::Unavailable(
                    format!(
                        "no Postgres connection became free within {:?}",
                        self.acquire_timeout
                    )
                    .into(),
                ))
            }
        };
        let (reused, generation) = {
            let mut idle = self.idle();
            let now = Instant::now();
            // Connections idle for too long are dropped (closing their sockets) here.
            idle.connections
                .retain(|parked| now.duration_since(parked.since) < self.idle_timeout);
            (idle.connections.pop(), idle.generation)
        };
        let (connection, generation) = match reused {
            Some(parked) => (parked.connection, parked.generation),
            None => (self.take_from_pool().await?, generation),
        };
        Ok(DirectConnection {
            connection,
            generation,
            owner: self,
            _permit: permit,
        })
    }

    /// A new connection for the list, taken out of the pool. The pool may hand out a connection
    /// it kept idle through a server restart, so each is tested once, when it joins the list:
    /// one that fails is dropped and another taken.
    async fn take_from_pool(&self) -> Result<PgConnection, StoreError> {
        let mut last = None;
        for _ in 0..=self.pool.options().get_max_connections() {
            // The pool waits at most its acquire timeout, and retries a server that is starting.
            let mut connection = self.pool.acquire().await.map_err(store_error)?.detach();
            let tested = connection.ping().await;
            if connection_survives(&tested) {
                return tested.map(|()| connection).map_err(store_error);
            }
            last = tested.err();
        }
        Err(last.map_or_else(
            || StoreError::Unavailable("no working Postgres connection".into()),
            store_error,
        ))
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        // Only pushes and pops happen under the lock: a poisoned list is still a list.
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A connection taken from [`DirectConnections`]. Hand it back with [`settle`](Self::settle);
/// dropped otherwise (a cancelled call, say), it is closed, since its state is unknown.
pub(crate) struct DirectConnection<'a> {
    connection: PgConnection,
    generation: u64,
    owner: &'a DirectConnections,
    _permit: OwnedSemaphorePermit,
}

impl DirectConnection<'_> {
    /// The connection, for a statement.
    pub(crate) fn get(&mut self) -> &mut PgConnection {
        &mut self.connection
    }

    /// Hands the connection back after its statement, unless `outcome` says that the connection
    /// itself failed (see [`connection_survives`]). A connection found dead also condemns the
    /// idle connections opened before it: they are closed, not reused.
    pub(crate) fn settle<T>(self, outcome: &Result<T, sqlx::Error>) {
        if connection_survives(outcome) {
            self.release();
            return;
        }
        let mut idle = self.owner.idle();
        if self.generation == idle.generation {
            idle.generation += 1;
            // Dropping them closes their sockets; new connections come from the pool.
            idle.connections.clear();
            tracing::debug!("a store connection was found dead; discarding the idle ones opened before it");
        }
    }

    /// Hands the connection back for reuse, unless it is of a generation found dead meanwhile.
    fn release(self) {
        // The permit goes last, so whoever it lets in finds the connection in the list.
        let Self {
            connection,
            generation,
            owner,
            _permit,
        } = self;
        let mut idle = owner.idle();
        if generation == idle.generation {
            idle.connections.push(Parked {
                connection,
                since: Instant::now(),
                generation,
            });
        }
    }
}
