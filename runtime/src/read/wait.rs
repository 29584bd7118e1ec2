//! Read-your-writes: waiting until a projection's read model includes a command's events.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::error::ProjectionError;
use super::status::current;
use crate::core::error::error_chain;
use crate::core::partition::Partition;
use crate::core::projection::Identity;
use crate::core::read_store::{CheckpointRow, ReadStore};
use crate::core::source::{Checkpoint, EventSource};
use crate::read::layout::{partition_name, partitions_of};

/// The pause between the first polls of a checkpoint when waiting for it.
const POLL_MIN: Duration = Duration::from_millis(1);
/// The longest pause between two polls.
const POLL_MAX: Duration = Duration::from_millis(20);
/// How many polls come [`POLL_MIN`] apart before the pauses double: a runner in another process
/// usually commits a command's events within a few milliseconds, and a wait that doubled from
/// the start polled at 1, 3 and 7 ms, so that most waits took 3 ms (measured in the harness,
/// `ryw.remote`).
const FAST_POLLS: u32 = 5;

/// The pauses of a wait that polls: [`FAST_POLLS`] of [`POLL_MIN`], then doubling up to
/// [`POLL_MAX`].
pub(crate) struct Polls {
    polled: u32,
    pause: Duration,
}

impl Polls {
    pub(crate) fn new() -> Self {
        Self {
            polled: 0,
            pause: POLL_MIN,
        }
    }

    /// The pause before the next poll.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let pause = self.pause;
        self.polled = self.polled.saturating_add(1);
        if self.polled >= FAST_POLLS {
            self.pause = (self.pause * 2).min(POLL_MAX);
        }
        pause
    }
}

/// Waits until the projection's stored checkpoint covers the event at `position`, polling it
/// (and waking early on an in-process runner's `progress`). A partitioned projection has no
/// checkpoint of its own: then the partition owning `stream` (every partition, without one)
/// must cover it.
///
/// A store that cannot be reached for a while (a restart shorter than `timeout`) only delays the
/// answer: transient errors are retried until the deadline, and reported in the timeout.
pub(crate) async fn wait_for_checkpoint<R: ReadStore, S: EventSource>(
    source: &S,
    store: &R,
    identity: Identity<'_>,
    position: Option<u64>,
    stream: Option<&str>,
    timeout: Duration,
    mut progress: Option<watch::Receiver<Checkpoint>>,
) -> Result<(), ProjectionError> {
    let Some(position) = position else { return Ok(()) };
    // Only what the runner commits from now on tells that the read model holds the event.
    if let Some(receiver) = progress.as_mut() {
        receiver.borrow_and_update();
    }
    let started = Instant::now();
    let deadline = started + timeout;
    let mut polls = Polls::new();
    let mut target = None;
    let mut last_error = None;
    loop {
        match reached(source, store, identity, position, stream, &mut target).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(error) if error.is_transient() => last_error = Some(error_chain(&error)),
            Err(error) => return Err(error),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(timeout_error(source, store, identity, position, now - started, last_error).await);
        }
        let nap = polls.next_pause().min(deadline - now);
        if nap_or_progress(nap, &mut progress).await {
            // The runner in this process committed its read model at this checkpoint after the
            // wait began: no read of the checkpoint table is needed to know it is covered.
            if let (Some(target), Some(receiver)) = (target, &progress) {
                if *receiver.borrow() >= target {
                    return Ok(());
                }
            }
        }
    }
}

/// Sleeps for `nap`, or until an in-process runner reports `progress`, whichever comes first;
/// forgets `progress` once its runner is gone. The pause of a poll that waits for a read model.
/// `true` when the runner reported progress.
pub(crate) async fn nap_or_progress<T>(nap: Duration, progress: &mut Option<watch::Receiver<T>>) -> bool {
    match progress {
        Some(receiver) => {
            tokio::select! {
                changed = receiver.changed() => {
                    if changed.is_err() {
                        *progress = None;
                        return false;
                    }
                    true
                }
                () = tokio::time::sleep(nap) => false,
            }
        }
        None => {
            tokio::time::sleep(nap).await;
            false
        }
    }
}

/// Whether the stored checkpoint covers the event at `position` (a partitioned projection's: the
/// partitions' that may hold it); looks the event's checkpoint up once, into `target`.
async fn reached<R: ReadStore, S: EventSource>(
    source: &S,
    store: &R,
    identity: Identity<'_>,
    position: u64,
    stream: Option<&str>,
    target: &mut Option<Checkpoint>,
) -> Result<bool, ProjectionError> {
    let target = match target {
        Some(target) => *target,
        None => *target.insert(source.checkpoint_of(position).await?.ok_or(
            ProjectionError::UnknownPosition {
                projection: identity.name,
                position,
            },
        )?),
    };
    let covers = |row: Option<CheckpointRow>| row.is_some() && current(row, identity.version) >= target;
    let row = store.read_checkpoint(identity.name).await?;
    if row.is_some() || identity.partition.is_some() {
        return Ok(covers(row));
    }
    let Some(count) = partitions_of(store, identity).await? else {
        return Ok(false);
    };
    for partition in Partition::all(count).filter(|p| stream.is_none_or(|stream| p.owns(stream))) {
        if !covers(
            store
                .read_checkpoint(partition_name(identity.name, partition))
                .await?,
        ) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The timeout, with what the read model had and had not reached (as far as the stores answer).
async fn timeout_error<R: ReadStore, S: EventSource>(
    source: &S,
    store: &R,
    identity: Identity<'_>,
    position: u64,
    waited: Duration,
    last_error: Option<String>,
) -> ProjectionError {
    let progress = match store.read_checkpoint(identity.name).await {
        Ok(row) => source
            .progress(current(row, identity.version), identity.event_types)
            .await
            .ok(),
        Err(_) => None,
    };
    let progress = progress.unwrap_or_default();
    ProjectionError::Timeout {
        projection: identity.name,
        position,
        reached: progress.position,
        ready: progress.readable,
        held_back: progress.held_back,
        held_back_by: progress.held_back_by,
        last_error,
        waited,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_come_fast_first_then_back_off_to_the_longest_pause() {
        let mut polls = Polls::new();
        let pauses: Vec<u128> = (0..12).map(|_| polls.next_pause().as_millis()).collect();
        assert_eq!(pauses, [1, 1, 1, 1, 1, 2, 4, 8, 16, 20, 20, 20]);
    }
}
