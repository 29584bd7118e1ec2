//! A subscriber for the subscription scenarios: it reads batches the way a projection runner
//! does and checks every read against what it saw before.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chronicle::{Checkpoint, EventSource, RecordedEvent};
use uuid::Uuid;

use super::events::ids;
use crate::wait::DEADLINE;

/// A subscriber: reads batches from its checkpoint, moves the checkpoint to each batch's horizon,
/// and checks on every read that nothing comes twice, out of order or behind its checkpoint.
pub struct Tailer<S> {
    store: S,
    types: Vec<&'static str>,
    limit: usize,
    pub checkpoint: Checkpoint,
    pub events: Vec<RecordedEvent>,
    seen: HashSet<Uuid>,
    pub reads: usize,
}

impl<S: EventSource> Tailer<S> {
    pub fn new(store: S, types: &[&'static str], limit: usize) -> Self {
        Self {
            store,
            types: types.to_vec(),
            limit,
            checkpoint: Checkpoint::START,
            events: Vec::new(),
            seen: HashSet::new(),
            reads: 0,
        }
    }

    /// The same subscriber, starting from `checkpoint`.
    pub fn from(mut self, checkpoint: Checkpoint) -> Self {
        self.checkpoint = checkpoint;
        self
    }

    /// One read; returns how many events it delivered.
    pub async fn step(&mut self) -> usize {
        let batch = self
            .store
            .read_batch(self.checkpoint, &self.types, self.limit)
            .await
            .expect("read_batch");
        self.reads += 1;
        assert!(
            batch.events.len() <= self.limit,
            "{} events over limit {}",
            batch.events.len(),
            self.limit
        );
        assert!(
            batch.horizon >= self.checkpoint,
            "horizon {:?} went back from {:?}",
            batch.horizon,
            self.checkpoint
        );
        let mut previous = self.checkpoint;
        for event in &batch.events {
            let at = Checkpoint::of(event);
            assert!(at > previous, "{at:?} delivered after {previous:?}");
            assert!(
                at <= batch.horizon,
                "{at:?} beyond the horizon {:?}",
                batch.horizon
            );
            assert!(
                self.seen.insert(event.event_id),
                "event {} delivered twice",
                event.event_id
            );
            if !self.types.is_empty() {
                assert!(
                    self.types.contains(&event.event_type.as_str()),
                    "type {} not asked for",
                    event.event_type
                );
            }
            previous = at;
        }
        if batch.events.len() == self.limit {
            let last = batch.events.last().map(Checkpoint::of);
            assert_eq!(Some(batch.horizon), last, "a full batch ends at its last event");
        }
        self.checkpoint = batch.horizon;
        let n = batch.events.len();
        self.events.extend(batch.events);
        n
    }

    /// Reads until `n` events in all have been delivered.
    pub async fn until(&mut self, n: usize) {
        let start = Instant::now();
        while self.events.len() < n {
            if self.step().await == 0 {
                assert!(
                    start.elapsed() < DEADLINE,
                    "only {} of {n} events delivered after {DEADLINE:?}; checkpoint {:?}",
                    self.events.len(),
                    self.checkpoint
                );
                // The pace of polling: the events may be held back by another test's transaction.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    /// Reads until the checkpoint has reached `at`.
    pub async fn until_checkpoint(&mut self, at: Checkpoint) {
        let start = Instant::now();
        while self.checkpoint < at {
            if self.step().await == 0 && self.checkpoint < at {
                assert!(
                    start.elapsed() < DEADLINE,
                    "checkpoint {:?} has not reached {at:?} after {DEADLINE:?}",
                    self.checkpoint
                );
                // The pace of polling, as in `until`.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    /// Reads `reads` times and asserts that none of them delivers an event: what a subscriber
    /// sees when nothing new can be read. Nothing is left to chance: each read looks at the log
    /// as it is now (the test has made it so), so one that delivered would do so at once.
    pub async fn reads_nothing(&mut self, reads: usize) {
        for read in 0..reads {
            let delivered = self.step().await;
            assert_eq!(
                delivered,
                0,
                "read {read} delivered {delivered} event(s) past {:?}: {:?}",
                self.checkpoint,
                &self.events[self.events.len() - delivered..]
            );
        }
    }

    pub fn ids(&self) -> Vec<Uuid> {
        ids(&self.events)
    }
}
