//! The pending deadlines of a process manager's instances, in memory, in the order they come
//! due. The instances' streams are where deadlines are kept; this is the leading runner's index
//! of them, rebuilt from the step events of the log whenever a runner starts to lead, and kept
//! up to date with every instance it loads.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An instance's stream: its tenant and id.
pub(crate) type StreamKey = (String, String);

/// A deadline that comes due: when, which, and the instance it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Due {
    pub(crate) at: DateTime<Utc>,
    pub(crate) deadline_id: Uuid,
    pub(crate) stream: StreamKey,
}

/// Every pending deadline known.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    by_stream: HashMap<StreamKey, BTreeMap<Uuid, DateTime<Utc>>>,
    due: BTreeSet<Due>,
    /// Whether it must be rebuilt from the log before it is trusted (no runner has led with it
    /// yet, or it led again after another one may have).
    pub(crate) stale: bool,
}

impl Schedule {
    /// An empty schedule, to be rebuilt.
    pub(crate) fn new() -> Self {
        Self {
            stale: true,
            ..Self::default()
        }
    }

    /// Replaces the pending deadlines of `stream` with `pending`.
    pub(crate) fn set(&mut self, stream: StreamKey, pending: BTreeMap<Uuid, DateTime<Utc>>) {
        if let Some(old) = self.by_stream.remove(&stream) {
            for (deadline_id, at) in old {
                self.due.remove(&Due {
                    at,
                    deadline_id,
                    stream: stream.clone(),
                });
            }
        }
        if pending.is_empty() {
            return;
        }
        for (deadline_id, at) in &pending {
            self.due.insert(Due {
                at: *at,
                deadline_id: *deadline_id,
                stream: stream.clone(),
            });
        }
        self.by_stream.insert(stream, pending);
    }

    /// Forgets everything, before a rebuild.
    pub(crate) fn clear(&mut self) {
        self.by_stream.clear();
        self.due.clear();
    }

    /// The first deadline due at or before `now`.
    pub(crate) fn first_due(&self, now: DateTime<Utc>) -> Option<Due> {
        self.due.first().filter(|due| due.at <= now).cloned()
    }

    /// When the next deadline comes due.
    pub(crate) fn next_at(&self) -> Option<DateTime<Utc>> {
        self.due.first().map(|due| due.at)
    }

    /// How many deadlines are pending.
    pub(crate) fn len(&self) -> usize {
        self.due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(id: &str) -> StreamKey {
        (String::new(), id.to_owned())
    }

    #[test]
    fn deadlines_come_due_in_time_order_and_are_replaced_per_stream() {
        let now = Utc::now();
        let (early, late) = (Uuid::new_v4(), Uuid::new_v4());
        let mut schedule = Schedule::new();
        schedule.set(
            stream("t-1"),
            BTreeMap::from([(late, now + chrono::Duration::seconds(60))]),
        );
        schedule.set(
            stream("t-2"),
            BTreeMap::from([(early, now - chrono::Duration::seconds(1))]),
        );
        assert_eq!(schedule.len(), 2);
        let due = schedule.first_due(now).expect("the early one is due");
        assert_eq!((due.deadline_id, due.stream), (early, stream("t-2")));
        schedule.set(stream("t-2"), BTreeMap::new());
        assert_eq!(schedule.first_due(now), None, "the late one is not due yet");
        assert_eq!(schedule.next_at(), Some(now + chrono::Duration::seconds(60)));
        schedule.clear();
        assert_eq!(schedule.len(), 0);
    }
}
