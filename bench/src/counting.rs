//! An [`EventStore`] wrapper that counts calls, to see how many times commands reload their
//! aggregate (one `read_stream` per attempt) and how many appends met a concurrent writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chronicle::{EventStore, NewEvent, Receipt, RecordedEvent, Snapshot, StoreError, StreamEvent};
use uuid::Uuid;

/// Calls seen by a [`CountingStore`].
#[derive(Debug, Default)]
pub struct Counts {
    read_stream: AtomicU64,
    appends: AtomicU64,
    conflicts: AtomicU64,
    find_command: AtomicU64,
    read_stream_nanos: AtomicU64,
    append_nanos: AtomicU64,
}

/// A snapshot of [`Counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// `read_stream` calls: one per command attempt.
    pub read_stream: u64,
    /// Successful appends.
    pub appends: u64,
    /// Appends refused with [`StoreError::Conflict`].
    pub conflicts: u64,
    /// `find_command` calls (made after each conflict).
    pub find_command: u64,
    /// Time spent in `read_stream`, summed over calls (concurrent calls add up).
    pub read_stream_time: Duration,
    /// Time spent in `append`, summed over calls.
    pub append_time: Duration,
}

impl Counted {
    /// Mean milliseconds per `read_stream` call.
    pub fn read_stream_ms(&self) -> f64 {
        mean_ms(self.read_stream_time, self.read_stream)
    }

    /// Mean milliseconds per `append` call (successful or not).
    pub fn append_ms(&self) -> f64 {
        mean_ms(self.append_time, self.appends + self.conflicts)
    }
}

fn mean_ms(total: Duration, calls: u64) -> f64 {
    if calls == 0 {
        0.0
    } else {
        total.as_secs_f64() * 1e3 / calls as f64
    }
}

/// Wraps a store and counts its calls; clones share the counts.
#[derive(Clone)]
pub struct CountingStore<S> {
    inner: S,
    counts: Arc<Counts>,
}

impl<S> CountingStore<S> {
    /// Counts the calls to `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            counts: Arc::default(),
        }
    }

    /// The counts so far.
    pub fn counted(&self) -> Counted {
        let c = &self.counts;
        Counted {
            read_stream: c.read_stream.load(Ordering::Relaxed),
            appends: c.appends.load(Ordering::Relaxed),
            conflicts: c.conflicts.load(Ordering::Relaxed),
            find_command: c.find_command.load(Ordering::Relaxed),
            read_stream_time: Duration::from_nanos(c.read_stream_nanos.load(Ordering::Relaxed)),
            append_time: Duration::from_nanos(c.append_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Sets every count back to zero.
    pub fn reset(&self) {
        let c = &self.counts;
        for counter in [
            &c.read_stream,
            &c.appends,
            &c.conflicts,
            &c.find_command,
            &c.read_stream_nanos,
            &c.append_nanos,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

impl<S: EventStore> EventStore for CountingStore<S> {
    fn tenant(&self) -> &chronicle::Tenant {
        self.inner.tenant()
    }

    fn for_tenant(&self, tenant: chronicle::Tenant) -> Self {
        Self {
            inner: self.inner.for_tenant(tenant),
            counts: self.counts.clone(),
        }
    }

    async fn append_checked(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        let started = Instant::now();
        let result = self
            .inner
            .append_checked(stream_id, expected_version, events)
            .await;
        add_elapsed(&self.counts.append_nanos, started);
        match &result {
            Ok(_) => self.counts.appends.fetch_add(1, Ordering::Relaxed),
            Err(StoreError::Conflict { .. }) => self.counts.conflicts.fetch_add(1, Ordering::Relaxed),
            Err(_) => 0,
        };
        result
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.counts.read_stream.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self.inner.read_stream(stream_id, after_version).await;
        add_elapsed(&self.counts.read_stream_nanos, started);
        result
    }

    async fn read_stream_payloads(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        self.counts.read_stream.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self.inner.read_stream_payloads(stream_id, after_version).await;
        add_elapsed(&self.counts.read_stream_nanos, started);
        result
    }

    async fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after_position, limit).await
    }

    async fn find_command(&self, command_id: Uuid) -> Result<Option<Receipt>, StoreError> {
        self.counts.find_command.fetch_add(1, Ordering::Relaxed);
        self.inner.find_command(command_id).await
    }

    // The provided methods too, so that the wrapper keeps the inner store's indexes and snapshots.

    async fn read_by_correlation(&self, correlation_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_by_correlation(correlation_id).await
    }

    async fn read_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.read_snapshot(stream_id).await
    }

    async fn write_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.write_snapshot(snapshot).await
    }
}

fn add_elapsed(counter: &AtomicU64, started: Instant) {
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    counter.fetch_add(nanos, Ordering::Relaxed);
}
