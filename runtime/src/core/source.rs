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

use super::error::StoreError;
use super::future::BoxFuture;
use super::partition::Partition;
use super::store::{EventStore, RecordedEvent};

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
    /// events came back, this is the safe horizon of the log at the time of the read. With an
    /// [`unreadable`](Self::unreadable) row, it is just before that row.
    pub horizon: Checkpoint,
    /// The first row of the requested types after `events` that cannot be read as an event, if
    /// the read met one: the read stops there.
    pub unreadable: Option<Box<UnreadableEvent>>,
}

/// A row of the event table that cannot be read as an event (see
/// [`StoreError::Unreadable`]), with what could be read of it, so that a subscriber can name it
/// and skip it.
#[derive(Debug, Clone)]
pub struct UnreadableEvent {
    /// Its place in the subscription order.
    pub checkpoint: Checkpoint,
    /// Its stream.
    pub stream_id: String,
    /// Its version within the stream.
    pub stream_version: u64,
    /// Its stored type name.
    pub event_type: String,
    /// Its id, if readable.
    pub event_id: Option<uuid::Uuid>,
    /// Why it cannot be read: a [`StoreError::Unreadable`].
    pub error: String,
}

/// The newest state of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The horizon a subscriber that is fully caught up would have reached (on Postgres it moves
    /// with every transaction of the server, so it is an internal place, not a count of events).
    pub checkpoint: Checkpoint,
    /// The highest global position, if any event is stored.
    pub position: Option<u64>,
    /// When the newest event was recorded.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// How far a subscriber at a checkpoint is from the head of the log, for the events of some
/// types: what is ready for it, and what is committed but not yet safe to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The highest global position at or before the checkpoint: how far through the log the
    /// subscriber is, in the numbers of [`Head::position`] (`None` before the first event).
    pub position: Option<u64>,
    /// Events of the types after the checkpoint that can be read now: not yet consumed.
    pub readable: u64,
    /// When the first of those was recorded.
    pub oldest_readable_at: Option<DateTime<Utc>>,
    /// Events of the types that are committed but not yet delivered, because a transaction that
    /// started before them is still open and might still commit an event before them (Postgres
    /// only; 0 on stores that commit in position order).
    pub held_back: u64,
    /// What holds them back, when known: the open transaction, its session and its age.
    pub held_back_by: Option<String>,
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
    ///
    /// A row that cannot be read as an event does not fail the read: the events before it come
    /// back, with the row as [`Batch::unreadable`], so that the subscriber can apply its policy
    /// to it like to any other poison event.
    fn read_batch(
        &self,
        after: Checkpoint,
        event_types: &[&str],
        limit: usize,
    ) -> impl Future<Output = Result<Batch, StoreError>> + Send;

    /// The head of the log.
    fn head(&self) -> impl Future<Output = Result<Head, StoreError>> + Send;

    /// Where a subscriber at `after`, following `event_types` (all when empty), stands.
    fn progress(
        &self,
        after: Checkpoint,
        event_types: &[&str],
    ) -> impl Future<Output = Result<Progress, StoreError>> + Send;

    /// Whether any event of any type lies after `after`, up to and including `until`. Reads no
    /// row's contents, so an unreadable row of a type nobody follows answers like any other.
    fn any_between(
        &self,
        after: Checkpoint,
        until: Checkpoint,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The checkpoint of the event at global `position`, used to wait for a command's receipt.
    /// `None` when no such event is stored.
    fn checkpoint_of(
        &self,
        position: u64,
    ) -> impl Future<Output = Result<Option<Checkpoint>, StoreError>> + Send;

    /// A listener that is woken when events are appended (Postgres `LISTEN/NOTIFY`, an
    /// in-process signal elsewhere). Wake-ups may be lost or spurious; subscribers also poll.
    fn listen(&self) -> impl Future<Output = Result<AppendListener, StoreError>> + Send;

    /// [`read_batch`](Self::read_batch) restricted to the streams `partition` owns: up to
    /// `limit` of their events, the horizon passing every event examined (of any partition).
    ///
    /// This default reads the whole log and keeps the partition's events, reading on while a
    /// full read held none of them; Postgres reads only the partition's rows, through an index
    /// [`prepare_partitions`](Self::prepare_partitions) creates.
    fn read_partition(
        &self,
        after: Checkpoint,
        event_types: &[&str],
        limit: usize,
        partition: Partition,
    ) -> impl Future<Output = Result<Batch, StoreError>> + Send {
        async move {
            let partition = partition.checked()?;
            let mut from = after;
            loop {
                let batch = self.read_batch(from, event_types, limit).await?;
                let full = batch.events.len() >= limit;
                let stopped_at_another = batch
                    .unreadable
                    .as_ref()
                    .is_some_and(|row| !partition.owns(&row.stream_id));
                let kept = only_partition(batch, partition);
                if kept.events.is_empty() && kept.unreadable.is_none() && (full || stopped_at_another) {
                    from = kept.horizon;
                    continue;
                }
                return Ok(kept);
            }
        }
    }

    /// [`progress`](Self::progress) counting only the events of the streams `partition` owns.
    /// This default counts every partition's (an upper bound); Postgres counts the partition's.
    fn partition_progress(
        &self,
        after: Checkpoint,
        event_types: &[&str],
        partition: Partition,
    ) -> impl Future<Output = Result<Progress, StoreError>> + Send {
        async move {
            partition.checked()?;
            self.progress(after, event_types).await
        }
    }

    /// Gets the store ready for partitioned reads into `count` partitions (Postgres: an index on
    /// the partition of each row). Safe to call from every worker at every start. This default
    /// has nothing to prepare.
    fn prepare_partitions(&self, count: u32) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Partition::checked_count(count).map(drop))
    }
}

/// A batch of every partition's events cut down to `partition`'s. An unreadable row of another
/// partition is not this one's to name: the batch passes it when nothing comes before it, and
/// ends before it otherwise (the next read then passes it).
fn only_partition(mut batch: Batch, partition: Partition) -> Batch {
    batch.events.retain(|event| partition.owns(&event.stream_id));
    if let Some(row) = batch.unreadable.take() {
        if partition.owns(&row.stream_id) {
            batch.unreadable = Some(row);
        } else if batch.events.is_empty() {
            batch.horizon = row.checkpoint;
        }
    }
    batch
}

/// Wakes a subscriber when events may have been appended.
///
/// Get one from [`EventSource::listen`]. A wake-up says "read again", not what was appended, and
/// it is best effort: signals may be merged, spurious or (on a lost connection) missed, so a
/// subscriber also reads after every timeout.
pub struct AppendListener {
    inner: Listener,
}

enum Listener {
    Local(tokio::sync::watch::Receiver<u64>),
    Backend(Box<dyn WaitForAppends>),
}

/// How a backend hears of appends made elsewhere (Postgres: `LISTEN` on a connection of its
/// own), for [`AppendListener::new`].
pub trait WaitForAppends: Send + 'static {
    /// Waits until an append is signalled or `timeout` passes: `true` when signalled (or when a
    /// signal may have been missed), `false` on timeout. Never fails and never waits much longer
    /// than `timeout`; a lost connection is re-established by a later call.
    fn wait(&mut self, timeout: Duration) -> BoxFuture<'_, bool>;

    /// A short name for debugging output, e.g. `"postgres"`.
    fn kind(&self) -> &'static str;
}

impl fmt::Debug for AppendListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.inner {
            Listener::Local(_) => "local",
            Listener::Backend(backend) => backend.kind(),
        };
        f.debug_struct("AppendListener")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl AppendListener {
    /// A listener on an in-process append counter, for stores whose appends all go through this
    /// process: bump the sender's value after every append.
    pub fn local(receiver: tokio::sync::watch::Receiver<u64>) -> Self {
        Self {
            inner: Listener::Local(receiver),
        }
    }

    /// A listener on a backend's own signal.
    pub fn new(backend: impl WaitForAppends) -> Self {
        Self {
            inner: Listener::Backend(Box::new(backend)),
        }
    }

    /// Waits until an append is signalled or `timeout` passes: `true` when signalled (or when a
    /// signal may have been missed, after a lost connection), `false` on timeout.
    ///
    /// Never fails and never waits much longer than `timeout`: while the database cannot be
    /// reached every call simply waits out its timeout, so that a subscriber keeps polling at its
    /// usual pace.
    pub async fn wait(&mut self, timeout: Duration) -> bool {
        match &mut self.inner {
            Listener::Local(receiver) => match tokio::time::timeout(timeout, receiver.changed()).await {
                Ok(Ok(())) => true,
                // The store and all its clones are gone: nothing can be appended any more.
                Ok(Err(_closed)) => {
                    tokio::time::sleep(timeout).await;
                    false
                }
                Err(_elapsed) => false,
            },
            Listener::Backend(backend) => backend.wait(timeout).await,
        }
    }
}

/// The events of a read, and the horizon they reach, for stores that commit in position order
/// (and Postgres, which computes its `caught_up` horizon from the snapshot of the read).
///
/// A full batch may have stopped short of more events, so its horizon is its last event; a
/// shorter one saw everything up to `caught_up`; one that stopped at an `unreadable` row reaches
/// just before that row, so that the next read starts with it. Never below `after`.
pub(crate) fn batch(
    after: Checkpoint,
    events: Vec<RecordedEvent>,
    limit: usize,
    caught_up: Checkpoint,
    unreadable: Option<Box<UnreadableEvent>>,
) -> Batch {
    let horizon = match (&unreadable, events.last()) {
        (Some(row), _) => Checkpoint {
            transaction_id: row.checkpoint.transaction_id,
            position: row.checkpoint.position.saturating_sub(1),
        },
        (None, Some(last)) if events.len() >= limit => Checkpoint::of(last),
        _ if limit == 0 => after,
        (None, _) => caught_up,
    };
    Batch {
        events,
        horizon: horizon.max(after),
        unreadable,
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
        assert_eq!(batch(after, Vec::new(), 10, caught_up, None).horizon, caught_up);
        // Limit 0 reads nothing and sees nothing.
        assert_eq!(batch(after, Vec::new(), 0, caught_up, None).horizon, after);
        // Never back.
        let behind = Checkpoint {
            transaction_id: 4,
            position: 0,
        };
        assert_eq!(batch(after, Vec::new(), 10, behind, None).horizon, after);
        // A read that stopped at an unreadable row reaches just before it.
        let row = UnreadableEvent {
            checkpoint: Checkpoint {
                transaction_id: 7,
                position: 40,
            },
            stream_id: "s".into(),
            stream_version: 1,
            event_type: "t".into(),
            event_id: None,
            error: "bad".into(),
        };
        let stopped = batch(after, Vec::new(), 10, caught_up, Some(Box::new(row)));
        assert_eq!(
            stopped.horizon,
            Checkpoint {
                transaction_id: 7,
                position: 39
            }
        );
        assert!(stopped.unreadable.is_some());
    }
}
