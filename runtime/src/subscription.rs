//! Reading the global log in an order that never skips an event, and being woken on appends.
//!
//! A bigint position is assigned when an insert runs, not when it commits, so a reader of
//! `position > checkpoint` could see 11 before 10 commits and never go back for 10. Chronicle's
//! Postgres store therefore delivers only events whose writing transaction is older than every
//! transaction still running, ordered by `(transaction_id, position)`; SQLite and memory stores
//! commit in position order, so their transaction id is always 0.

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
    pub const START: Checkpoint = Checkpoint { transaction_id: 0, position: 0 };

    /// The checkpoint just at `event`.
    pub fn of(event: &RecordedEvent) -> Self {
        Self { transaction_id: event.transaction_id, position: event.position }
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
    fn checkpoint_of(&self, position: u64) -> impl Future<Output = Result<Option<Checkpoint>, StoreError>> + Send;

    /// A listener that is woken when events are appended (Postgres `LISTEN/NOTIFY`, an
    /// in-process signal elsewhere). Wake-ups may be lost or spurious; subscribers also poll.
    fn listen(&self) -> impl Future<Output = Result<AppendListener, StoreError>> + Send;
}

/// Wakes a subscriber when events may have been appended.
pub struct AppendListener {
    inner: ListenerInner,
}

enum ListenerInner {
    Local(tokio::sync::watch::Receiver<u64>),
    #[cfg(feature = "postgres")]
    Postgres(Box<sqlx::postgres::PgListener>),
}

impl AppendListener {
    /// A listener on an in-process append counter.
    pub(crate) fn local(receiver: tokio::sync::watch::Receiver<u64>) -> Self {
        Self { inner: ListenerInner::Local(receiver) }
    }

    /// A listener on a Postgres notification channel.
    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(listener: sqlx::postgres::PgListener) -> Self {
        Self { inner: ListenerInner::Postgres(Box::new(listener)) }
    }

    /// Waits until an append is signalled or `timeout` passes; `true` when signalled.
    ///
    /// A lost connection is not an error here: the caller polls after the timeout anyway.
    pub async fn wait(&mut self, timeout: Duration) -> bool {
        match &mut self.inner {
            ListenerInner::Local(receiver) => {
                matches!(tokio::time::timeout(timeout, receiver.changed()).await, Ok(Ok(())))
            }
            #[cfg(feature = "postgres")]
            ListenerInner::Postgres(listener) => {
                match tokio::time::timeout(timeout, listener.try_recv()).await {
                    Ok(Ok(Some(_))) => true,
                    Ok(Ok(None)) | Ok(Err(_)) => false,
                    Err(_elapsed) => false,
                }
            }
        }
    }
}
