//! Commands on one stream take turns within a process.
//!
//! Without this, concurrent commands on a hot aggregate all decide on the same version, one
//! append wins, and the others conflict, back off and try again, each losing round a wasted read
//! and append; under enough load some run out of attempts. Taking turns, each command decides on
//! the state the previous one left in the cache and appends without a conflict. Commands of
//! other processes on the same stream still meet the store's version check, and those conflicts
//! are retried with backoff (see `retry.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OwnedMutexGuard;

/// One turn-taking queue per stream that has commands in flight.
#[derive(Default)]
pub(crate) struct Turns {
    streams: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A command's turn on its stream; the next command's turn begins when it is dropped.
pub(crate) struct Turn<'a> {
    turns: &'a Turns,
    stream: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for the turn of a command on `stream`.
    pub(crate) async fn take(&self, stream: &str) -> Turn<'_> {
        let queue = Arc::clone(
            self.streams()
                .entry(stream.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))),
        );
        let guard = queue.lock_owned().await;
        Turn {
            turns: self,
            stream: stream.to_owned(),
            guard: Some(guard),
        }
    }

    fn streams(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // Only inserts and removals of whole entries happen under the lock.
        self.streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut streams = self.turns.streams();
        drop(self.guard.take());
        // The map holds one reference; a waiting command holds another. Without waiters, the
        // queue goes, so that the map only holds streams with commands in flight.
        if streams
            .get(&self.stream)
            .is_some_and(|queue| Arc::strong_count(queue) == 1)
        {
            streams.remove(&self.stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commands_on_one_stream_take_turns_and_the_map_empties() {
        let turns = Arc::new(Turns::default());
        let first = turns.take("s").await;
        let waiting = tokio::spawn({
            let turns = Arc::clone(&turns);
            async move {
                let _turn = turns.take("s").await;
            }
        });
        // Another stream does not wait.
        drop(turns.take("other").await);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the second command waits for the first");
        drop(first);
        waiting.await.expect("the second command gets its turn");
        assert!(turns.streams().is_empty(), "no queue is kept without commands");
    }
}
