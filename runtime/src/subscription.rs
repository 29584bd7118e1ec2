//! Reading the global log in an order that never skips an event, and being woken on appends.
//!
//! A bigint position is assigned when an insert runs, not when it commits, so a reader of
//! `position > checkpoint` could see 11 before 10 commits and never go back for 10. Chronicle's
//! Postgres store therefore delivers only events whose writing transaction is older than every
//! transaction still running, ordered by `(transaction_id, position)`; SQLite and memory stores
//! commit in position order, so their transaction id is always 0.
//!
//! A subscriber loops: [`EventSource::read_batch`] from its checkpoint, handle the events, store
//! the batch's [`horizon`](Batch::horizon) as its new checkpoint; when a batch comes back short
//! it is caught up and [waits](AppendListener::wait) for the next append (or a timeout) before
//! reading again.
//!
//! On Postgres, a transaction that stays open holds the horizon back for every subscriber: events
//! committed after it started are delivered only once it ends. This costs latency, never
//! correctness, but it concerns every transaction on the server that has a transaction id
//! (anything that has written, in any database of the cluster), and a forgotten prepared
//! transaction holds subscribers back until it is resolved.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::store::{EventStore, RecordedEvent};

/// A place in the subscription order of the global log: everything at or before it is consumed.
///
/// Ordered by transaction id, then position. `Checkpoint::START` is before every event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checkpoint {
    /// The writing transaction's id (`xid8` on Postgres, 0 on stores that commit in order).
    pub transaction_id: u64,
    /// The global position.
    pub position: u64,
}

impl Checkpoint {
    /// Before the first event.
    pub const START: Checkpoint = Checkpoint {
        transaction_id: 0,
        position: 0,
    };

    /// The checkpoint just at `event`.
    pub fn of(event: &RecordedEvent) -> Self {
        Self {
            transaction_id: event.transaction_id,
            position: event.position,
        }
    }
}

/// One read of the log for a subscriber.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Events after the requested checkpoint, in subscription order, of the requested types.
    pub events: Vec<RecordedEvent>,
    /// How far the subscriber may move its checkpoint after handling `events`: past every event
    /// of any type that was examined, including the ones filtered out. When fewer than `limit`
    /// events came back, this is the safe horizon of the log at the time of the read.
    pub horizon: Checkpoint,
}

/// The newest state of the log, for measuring a subscriber's lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The horizon a subscriber that is fully caught up would have reached.
    pub checkpoint: Checkpoint,
    /// The highest global position, if any event is stored.
    pub position: Option<u64>,
    /// When the newest event was recorded.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// An event store that subscribers can follow: catch up in batches, then wait for appends.
pub trait EventSource: EventStore {
    /// Up to `limit` events after `after` in subscription order, restricted to `event_types`
    /// (all types when empty). The filter runs in the database, not in Rust.
    ///
    /// Only events that nothing can precede any more are returned: on Postgres, an event
    /// committed while an older transaction is still open waits for that transaction to end
    /// (see `PostgresStore`). Continue from the batch's [`horizon`](Batch::horizon), which
    /// passes the filtered-out events too.
    fn read_batch(
        &self,
        after: Checkpoint,
        event_types: &[&str],
        limit: usize,
    ) -> impl Future<Output = Result<Batch, StoreError>> + Send;

    /// The head of the log.
    fn head(&self) -> impl Future<Output = Result<Head, StoreError>> + Send;

    /// How many events of `event_types` (all when empty) lie after `after`, up to the horizon.
    fn count_after(
        &self,
        after: Checkpoint,
        event_types: &[&str],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The checkpoint of the event at global `position`, used to wait for a command's receipt.
    /// `None` when no such event is stored.
    fn checkpoint_of(
        &self,
        position: u64,
    ) -> impl Future<Output = Result<Option<Checkpoint>, StoreError>> + Send;

    /// A listener that is woken when events are appended (Postgres `LISTEN/NOTIFY`, an
    /// in-process signal elsewhere). Wake-ups may be lost or spurious; subscribers also poll.
    fn listen(&self) -> impl Future<Output = Result<AppendListener, StoreError>> + Send;
}

/// Wakes a subscriber when events may have been appended.
///
/// Get one from [`EventSource::listen`]. A wake-up says "read again", not what was appended, and
/// it is best effort: signals may be merged, spurious or (on a lost connection) missed, so a
/// subscriber also reads after every timeout.
pub struct AppendListener {
    inner: ListenerInner,
}

impl fmt::Debug for AppendListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.inner {
            ListenerInner::Local(_) => "local",
            #[cfg(feature = "postgres")]
            ListenerInner::Postgres(_) => "postgres",
        };
        f.debug_struct("AppendListener")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

enum ListenerInner {
    Local(tokio::sync::watch::Receiver<u64>),
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::Waiter>),
}

impl AppendListener {
    /// A listener on an in-process append counter.
    pub(crate) fn local(receiver: tokio::sync::watch::Receiver<u64>) -> Self {
        Self {
            inner: ListenerInner::Local(receiver),
        }
    }

    /// A listener on the Postgres notification channel `channel`, on a connection of its own
    /// opened with `options`, giving up on connecting after `connect_timeout`.
    #[cfg(feature = "postgres")]
    pub(crate) async fn postgres(
        options: sqlx::postgres::PgConnectOptions,
        connect_timeout: Duration,
        channel: String,
    ) -> Result<Self, sqlx::Error> {
        let waiter = postgres::Waiter::connect(options, connect_timeout, channel).await?;
        Ok(Self {
            inner: ListenerInner::Postgres(Box::new(waiter)),
        })
    }

    /// Waits until an append is signalled or `timeout` passes: `true` when signalled (or when a
    /// signal may have been missed, after a lost connection), `false` on timeout.
    ///
    /// Never fails and never waits much longer than `timeout`: a lost Postgres connection is
    /// re-established by a later call, and while the database cannot be reached every call
    /// simply waits out its timeout, so that a subscriber keeps polling at its usual pace.
    pub async fn wait(&mut self, timeout: Duration) -> bool {
        match &mut self.inner {
            ListenerInner::Local(receiver) => {
                match tokio::time::timeout(timeout, receiver.changed()).await {
                    Ok(Ok(())) => true,
                    // The store and all its clones are gone: nothing can be appended any more.
                    Ok(Err(_closed)) => {
                        tokio::time::sleep(timeout).await;
                        false
                    }
                    Err(_elapsed) => false,
                }
            }
            #[cfg(feature = "postgres")]
            ListenerInner::Postgres(waiter) => waiter.wait(timeout).await,
        }
    }
}

/// The events of a read, and the horizon they reach, for stores that commit in position order
/// (and Postgres, which computes its `caught_up` horizon from the snapshot of the read).
///
/// A full batch may have stopped short of more events, so its horizon is its last event; a
/// shorter one saw everything up to `caught_up`. Never below `after`.
pub(crate) fn batch(
    after: Checkpoint,
    events: Vec<RecordedEvent>,
    limit: usize,
    caught_up: Checkpoint,
) -> Batch {
    let horizon = match events.last() {
        Some(last) if events.len() >= limit => Checkpoint::of(last),
        _ if limit == 0 => after,
        _ => caught_up,
    };
    Batch {
        events,
        horizon: horizon.max(after),
    }
}

/// The position after which a store whose transaction ids are all 0 reads for `after`: every
/// event of such a store is before a checkpoint with a non-zero transaction id.
pub(crate) fn serial_position(after: Checkpoint) -> u64 {
    if after.transaction_id == 0 {
        after.position
    } else {
        u64::MAX
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::time::Duration;

    use futures_util::FutureExt;
    use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
    use tokio::time::Instant;

    /// Notifications taken off the connection after the first one of a wake-up, so that a
    /// burst of appends wakes a subscriber once rather than once per append.
    const DRAIN_AT_MOST: usize = 1024;

    /// A `PgListener` on a pool of one connection of its own, so that a waiting subscriber holds
    /// no connection of the store's pool; rebuilt after an error.
    pub(super) struct Waiter {
        pool: PgPool,
        channel: String,
        listener: Option<PgListener>,
    }

    impl Waiter {
        pub(super) async fn connect(
            options: PgConnectOptions,
            connect_timeout: Duration,
            channel: String,
        ) -> Result<Self, sqlx::Error> {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(connect_timeout)
                .connect_lazy_with(options);
            let mut waiter = Self {
                pool,
                channel,
                listener: None,
            };
            waiter.listener = Some(waiter.listen().await?);
            Ok(waiter)
        }

        async fn listen(&self) -> Result<PgListener, sqlx::Error> {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(&self.channel).await?;
            Ok(listener)
        }

        pub(super) async fn wait(&mut self, timeout: Duration) -> bool {
            let deadline = Instant::now() + timeout;
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(Ok(signalled)) => signalled,
                Ok(Err(error)) => {
                    tracing::debug!(%error, channel = %self.channel, "append listener failed; will reconnect");
                    self.listener = None;
                    // Waiting out the timeout keeps a subscriber polling at its pace rather than
                    // in a tight loop while the database is away.
                    tokio::time::sleep_until(deadline).await;
                    false
                }
                Err(_elapsed) => false,
            }
        }

        /// The next wake-up. Cancel-safe: cancelled while reconnecting, it reconnects at the
        /// next call.
        async fn next(&mut self) -> Result<bool, sqlx::Error> {
            let Some(listener) = self.listener.as_mut() else {
                // Notifications sent while there was no listener are lost: report one.
                self.listener = Some(self.listen().await?);
                return Ok(true);
            };
            // `None`: the connection was lost and has been re-established; notifications may
            // have been missed meanwhile, so wake the subscriber anyway.
            if listener.try_recv().await?.is_none() {
                return Ok(true);
            }
            for _ in 0..DRAIN_AT_MOST {
                match listener.try_recv().now_or_never() {
                    Some(Ok(Some(_))) => {}
                    Some(Ok(None)) | None => break,
                    Some(Err(_)) => {
                        self.listener = None;
                        break;
                    }
                }
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_can_move_to_a_task() {
        fn send<T: Send + 'static>() {}
        send::<AppendListener>();
    }

    #[test]
    fn checkpoints_order_by_transaction_then_position() {
        let at = |transaction_id, position| Checkpoint {
            transaction_id,
            position,
        };
        assert!(at(1, 9) < at(2, 1));
        assert!(at(2, 1) < at(2, 2));
        assert!(Checkpoint::START < at(0, 1));
        assert_eq!(serial_position(at(0, 7)), 7);
        assert_eq!(serial_position(at(3, 7)), u64::MAX);
    }

    #[test]
    fn horizon_of_a_batch() {
        let after = Checkpoint {
            transaction_id: 5,
            position: 3,
        };
        let caught_up = Checkpoint {
            transaction_id: 9,
            position: 0,
        };
        // Nothing read: the whole snapshot was seen.
        assert_eq!(batch(after, Vec::new(), 10, caught_up).horizon, caught_up);
        // Limit 0 reads nothing and sees nothing.
        assert_eq!(batch(after, Vec::new(), 0, caught_up).horizon, after);
        // Never back.
        let behind = Checkpoint {
            transaction_id: 4,
            position: 0,
        };
        assert_eq!(batch(after, Vec::new(), 10, behind).horizon, after);
    }
}
