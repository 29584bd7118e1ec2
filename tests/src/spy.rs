//! A store that tells the test what was done with it: how many stream reads and appends reached
//! it, which snapshots were written, when a subscriber started waiting for appends. Tests prove
//! negatives with it ("the cache spared the read", "the invalid id never reached the store", "no
//! snapshot was written before the fifth event", "the runner was idle when the event came") by
//! counting, not by letting time pass.
//!
//! It can also misbehave on purpose: make the first stream reads meet at a barrier (so that
//! concurrent commands decide on the same version and collide), or fail or hang snapshot writes.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chronicle::{
    AppendListener, Batch, BoxFuture, Checkpoint, EventSource, EventStore, Head, NewEvent, Progress, Receipt,
    RecordedEvent, Snapshot, StoreError, WaitForAppends,
};
use tokio::sync::{watch, Barrier};
use uuid::Uuid;

/// `inner`, with its use counted and some of its behaviour replaceable. Clones share the counts.
#[derive(Clone)]
pub struct Spy<S> {
    inner: S,
    hooks: Arc<Hooks>,
}

struct Hooks {
    stream_reads: AtomicUsize,
    appends: AtomicUsize,
    /// The stream version of every snapshot write, in the order the writes began.
    snapshot_writes: Mutex<Vec<u64>>,
    snapshots: AtomicU8,
    /// How many stream reads are still to wait at the barrier, and the barrier.
    rendezvous: Mutex<Option<(usize, Arc<Barrier>)>>,
    /// The horizon of the last read that found nothing new.
    caught_up: Mutex<Option<Checkpoint>>,
    /// Where a subscriber stood when it last began waiting for appends.
    waiting: watch::Sender<Option<Checkpoint>>,
}

const SNAPSHOTS_PASS: u8 = 0;
const SNAPSHOTS_FAIL: u8 = 1;
const SNAPSHOTS_HANG: u8 = 2;

impl<S> Spy<S> {
    /// A spy on `inner` that changes nothing of its behaviour.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            hooks: Arc::new(Hooks {
                stream_reads: AtomicUsize::new(0),
                appends: AtomicUsize::new(0),
                snapshot_writes: Mutex::default(),
                snapshots: AtomicU8::new(SNAPSHOTS_PASS),
                rendezvous: Mutex::default(),
                caught_up: Mutex::default(),
                waiting: watch::channel(None).0,
            }),
        }
    }

    /// The store spied on.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How many stream reads (`read_stream`) reached the store.
    pub fn stream_reads(&self) -> usize {
        self.hooks.stream_reads.load(Ordering::SeqCst)
    }

    /// Sets the stream-read count back to 0.
    pub fn reset_stream_reads(&self) {
        self.hooks.stream_reads.store(0, Ordering::SeqCst);
    }

    /// How many appends reached the store, past the input checks of `EventStore::append`.
    pub fn appends(&self) -> usize {
        self.hooks.appends.load(Ordering::SeqCst)
    }

    /// The stream versions of the snapshot writes begun so far, in the order they began.
    pub fn snapshot_writes(&self) -> Vec<u64> {
        lock(&self.hooks.snapshot_writes).clone()
    }

    /// Snapshot writes fail with `Unavailable` from now on (and are still counted).
    pub fn fail_snapshot_writes(self) -> Self {
        self.hooks.snapshots.store(SNAPSHOTS_FAIL, Ordering::SeqCst);
        self
    }

    /// Snapshot writes never finish from now on (and are still counted).
    pub fn hang_snapshot_writes(self) -> Self {
        self.hooks.snapshots.store(SNAPSHOTS_HANG, Ordering::SeqCst);
        self
    }

    /// The next `readers` stream reads each wait, after reading, until all of them have read: so
    /// many concurrent commands are sure to decide on the same version.
    pub fn rendezvous_stream_reads(self, readers: usize) -> Self {
        *lock(&self.hooks.rendezvous) = Some((readers, Arc::new(Barrier::new(readers))));
        self
    }

    /// Where a subscriber of this store stood (the horizon of its last read that found nothing
    /// new) when it last began waiting for appends through a listener of this store: once it
    /// is at or past a checkpoint, the subscriber had read everything up to there and went to
    /// sleep until the next wake-up.
    pub fn waiting(&self) -> watch::Receiver<Option<Checkpoint>> {
        self.hooks.waiting.subscribe()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S: EventStore> EventStore for Spy<S> {
    fn tenant(&self) -> &chronicle::Tenant {
        self.inner.tenant()
    }

    /// The inner store bound to `tenant`, counted and hooked with `self`.
    fn for_tenant(&self, tenant: chronicle::Tenant) -> Self {
        Self {
            inner: self.inner.for_tenant(tenant),
            hooks: self.hooks.clone(),
        }
    }

    async fn append_checked(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        self.hooks.appends.fetch_add(1, Ordering::SeqCst);
        self.inner
            .append_checked(stream_id, expected_version, events)
            .await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.read_stream(stream_id, after_version).await;
        self.hooks.stream_reads.fetch_add(1, Ordering::SeqCst);
        let barrier = {
            let mut rendezvous = lock(&self.hooks.rendezvous);
            match rendezvous.as_mut() {
                Some((left, barrier)) if *left > 0 => {
                    *left -= 1;
                    Some(barrier.clone())
                }
                _ => None,
            }
        };
        if let Some(barrier) = barrier {
            barrier.wait().await;
        }
        events
    }

    async fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after_position, limit).await
    }

    async fn find_command(&self, command_id: Uuid) -> Result<Option<Receipt>, StoreError> {
        self.inner.find_command(command_id).await
    }

    async fn read_by_correlation(&self, correlation_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_by_correlation(correlation_id).await
    }

    async fn read_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.read_snapshot(stream_id).await
    }

    async fn write_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        lock(&self.hooks.snapshot_writes).push(snapshot.stream_version);
        match self.hooks.snapshots.load(Ordering::SeqCst) {
            SNAPSHOTS_FAIL => Err(StoreError::Unavailable("the snapshot table is on fire".into())),
            SNAPSHOTS_HANG => std::future::pending().await,
            _ => self.inner.write_snapshot(snapshot).await,
        }
    }
}

impl<S: EventSource> EventSource for Spy<S> {
    async fn read_batch(
        &self,
        after: Checkpoint,
        event_types: &[&str],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        let batch = self.inner.read_batch(after, event_types, limit).await?;
        if batch.events.is_empty() && batch.unreadable.is_none() {
            *lock(&self.hooks.caught_up) = Some(batch.horizon);
        }
        Ok(batch)
    }

    async fn head(&self) -> Result<Head, StoreError> {
        self.inner.head().await
    }

    async fn progress(&self, after: Checkpoint, event_types: &[&str]) -> Result<Progress, StoreError> {
        self.inner.progress(after, event_types).await
    }

    async fn any_between(&self, after: Checkpoint, until: Checkpoint) -> Result<bool, StoreError> {
        self.inner.any_between(after, until).await
    }

    async fn checkpoint_of(&self, position: u64) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.checkpoint_of(position).await
    }

    async fn listen(&self) -> Result<AppendListener, StoreError> {
        let inner = self.inner.listen().await?;
        Ok(AppendListener::new(SpiedListener {
            inner,
            hooks: self.hooks.clone(),
        }))
    }
}

/// A listener that reports where its subscriber stood as each wait begins.
struct SpiedListener {
    inner: AppendListener,
    hooks: Arc<Hooks>,
}

impl WaitForAppends for SpiedListener {
    fn wait(&mut self, timeout: Duration) -> BoxFuture<'_, bool> {
        let caught_up = *lock(&self.hooks.caught_up);
        self.hooks.waiting.send_replace(caught_up);
        Box::pin(self.inner.wait(timeout))
    }

    fn kind(&self) -> &'static str {
        "spy"
    }
}
