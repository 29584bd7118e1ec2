//! Connections the Postgres store holds itself, for the statements on a command's path.
//!
//! sqlx's pool tests every connection handed back to it with a ping, in a task it spawns for the
//! purpose: one more round trip and one more task per statement, which cost a single client about
//! a third of its appends per second. The store's own statements therefore run on connections it
//! keeps in a small list of its own and hands back without a test. A connection whose statement
//! failed for any reason but the database's answer about the statement (a network error, a
//! cancelled call, a session the server ended) is closed instead of handed back, so a broken one
//! fails at most the statement that found it broken.
//!
//! New connections come from the pool itself, detached from it: opened with its options and
//! hooks, and no longer counted against its size.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnection, PgPool};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::postgres::map_sqlx;
use crate::error::StoreError;

/// Up to as many connections as a pool may open, taken from it, reused while they keep working.
pub(crate) struct DirectConnections {
    pool: PgPool,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    /// A connection idle longer than this is closed rather than reused: the server or a proxy
    /// may have dropped it meanwhile.
    idle_timeout: Duration,
}

struct Idle {
    connection: PgConnection,
    since: Instant,
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
            idle: Mutex::new(Vec::with_capacity(max)),
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
        let reused = {
            let mut idle = self.idle();
            let now = Instant::now();
            // Connections idle for too long are dropped (closing their sockets) here.
            idle.retain(|held| now.duration_since(held.since) < self.idle_timeout);
            idle.pop()
        };
        let connection = match reused {
            Some(held) => held.connection,
            // The pool waits at most its acquire timeout, and retries a server that is starting.
            None => self.pool.acquire().await.map_err(map_sqlx)?.detach(),
        };
        Ok(DirectConnection {
            connection,
            owner: self,
            _permit: permit,
        })
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        // Only pushes and pops happen under the lock: a poisoned list is still a list.
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A connection taken from [`DirectConnections`]. Hand it back with [`settle`](Self::settle);
/// dropped otherwise (a cancelled call, say), it is closed, since its state is unknown.
pub(crate) struct DirectConnection<'a> {
    connection: PgConnection,
    owner: &'a DirectConnections,
    _permit: OwnedSemaphorePermit,
}

impl DirectConnection<'_> {
    /// The connection, for a statement.
    pub(crate) fn get(&mut self) -> &mut PgConnection {
        &mut self.connection
    }

    /// Hands the connection back after its statement, unless `outcome` says that the connection
    /// itself failed: only an answer from the database (success, or an error about the statement)
    /// proves it still works. A server ending the session says so with an error of its own
    /// (class 08, or 57P01 when an administrator terminates it), which counts as failed.
    pub(crate) fn settle<T>(self, outcome: &Result<T, sqlx::Error>) {
        let usable = match outcome {
            Ok(_) | Err(sqlx::Error::RowNotFound) => true,
            Err(sqlx::Error::Database(error)) => !error
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
            Err(_) => false,
        };
        if usable {
            self.release();
        }
    }

    /// Hands the connection back for reuse.
    fn release(self) {
        // The permit goes last, so whoever it lets in finds the connection in the list.
        let Self {
            connection,
            owner,
            _permit,
        } = self;
        owner.idle().push(Idle {
            connection,
            since: Instant::now(),
        });
    }
}
