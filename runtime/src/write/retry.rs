//! How a command whose stream was moved by another writer is tried again. Within one process,
//! commands on a stream take turns (`turns.rs`) and do not conflict; these retries are for
//! writers elsewhere.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// How many times a command is tried when writers in other processes keep moving its stream.
///
/// Every conflict is followed by a pause with full jitter whose ceiling doubles from 1 ms up to
/// 64 ms: with 16 attempts, a command waits at most about 0.64 s in all (about half that on
/// average) before it gives up with [`CommandError::Concurrency`](crate::CommandError::Concurrency),
/// besides the time of the attempts themselves. Two processes writing one aggregate without pause
/// can keep one of them losing for longer: route an aggregate's commands to one process, or raise
/// the attempts with [`Chronicle::with_max_attempts`](crate::Chronicle::with_max_attempts).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 16;

/// The pause after the `attempt`-th conflict (from 1): exponential backoff with full jitter, so
/// that writers that collided do not collide again.
pub(super) fn backoff(attempt: u32) -> Duration {
    let ceiling_micros = 500u64 << attempt.clamp(1, 7);
    let jitter = RandomState::new().hash_one(attempt) % ceiling_micros;
    Duration::from_micros(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_is_what_the_docs_say() {
        let ceilings: u64 = (1..DEFAULT_MAX_ATTEMPTS)
            .map(|attempt| 500u64 << attempt.clamp(1, 7))
            .sum();
        assert_eq!(ceilings, 639_000, "the budget in microseconds");
        for attempt in 1..=20 {
            assert!(backoff(attempt) < Duration::from_millis(64));
        }
    }
}
