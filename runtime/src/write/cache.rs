//! The in-process cache of aggregate state that spares hot aggregates a replay per command.
//!
//! An entry is only a guess at the stream's current version: an append with a stale version is
//! refused by the store, and a rejection or no-op decided on a cached state is checked against
//! the stream before it is returned. A stale entry therefore costs a read, never a wrong decision.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How many aggregates [`Chronicle`](crate::Chronicle) keeps in memory unless told otherwise.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

struct Entry {
    state: Box<dyn Any + Send + Sync>,
    version: u64,
    used: u64,
}

/// A bounded map from stream id to the state and version last seen by this process.
pub(crate) struct StateCache {
    capacity: usize,
    entries: Mutex<HashMap<String, Entry>>,
    clock: AtomicU64,
}

impl StateCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
            clock: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Entries are replaced whole, so a panic elsewhere cannot leave one half-written.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of the cached state of `stream`, if any.
    pub(crate) fn get<A: Clone + Send + Sync + 'static>(&self, stream: &str) -> Option<(A, u64)> {
        let mut entries = self.lock();
        let entry = entries.get_mut(stream)?;
        entry.used = self.clock.fetch_add(1, Ordering::Relaxed);
        let state = entry.state.downcast_ref::<A>()?.clone();
        Some((state, entry.version))
    }

    /// Remembers `state` at `version`, unless a newer version is already remembered.
    pub(crate) fn put<A: Send + Sync + 'static>(&self, stream: &str, state: A, version: u64) {
        if self.capacity == 0 {
            return;
        }
        let used = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        if entries.get(stream).is_some_and(|e| e.version > version) {
            return;
        }
        entries.insert(
            stream.to_owned(),
            Entry {
                state: Box::new(state),
                version,
                used,
            },
        );
        if entries.len() > self.capacity {
            evict_least_recently_used(&mut entries, self.capacity);
        }
    }

    /// Forgets `stream`, after its entry proved unusable.
    pub(crate) fn forget(&self, stream: &str) {
        self.lock().remove(stream);
    }

    /// Forgets every entry: after a subject was forgotten, no state holding its data is kept.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}

/// Drops the least recently used tenth at once, so the scan is paid once per many inserts.
fn evict_least_recently_used(entries: &mut HashMap<String, Entry>, capacity: usize) {
    let keep = capacity - capacity / 10;
    let mut ages: Vec<u64> = entries.values().map(|e| e.used).collect();
    let cut = ages.len().saturating_sub(keep);
    if cut == 0 {
        return;
    }
    let (_, threshold, _) = ages.select_nth_unstable(cut - 1);
    let threshold = *threshold;
    entries.retain(|_, e| e.used > threshold);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_version_and_evicts_the_least_recently_used() {
        let cache = StateCache::new(10);
        cache.put("a", 1_u32, 5);
        cache.put("a", 0_u32, 4);
        assert_eq!(cache.get::<u32>("a"), Some((1, 5)));
        assert_eq!(cache.get::<u64>("a"), None, "another type is not a hit");
        for i in 0..20 {
            cache.put(&format!("s{i}"), i, 1);
            let _ = cache.get::<u32>("a");
        }
        let entries = cache.lock();
        assert!(entries.len() <= 10);
        assert!(entries.contains_key("a"), "the hot entry survives");
        assert!(entries.contains_key("s19"), "the newest entry survives");
    }

    #[test]
    fn a_capacity_of_zero_caches_nothing() {
        let cache = StateCache::new(0);
        cache.put("a", 1_u32, 1);
        assert_eq!(cache.get::<u32>("a"), None);
    }
}
