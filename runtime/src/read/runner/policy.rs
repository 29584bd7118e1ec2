//! What a runner does when a handler fails: retry with backoff, then stop or dead-letter.

use std::time::Duration;

/// How a batch whose handler fails is tried again before the event counts as poison.
///
/// Only failures that trying again might fix are retried: an event that cannot be read or
/// decoded is poison at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a batch is tried in all (at least 1).
    pub attempts: u32,
    /// The pause after the first failure; it doubles after each further one. Also the first
    /// pause before reconnecting to a store that could not be reached.
    pub backoff: Duration,
    /// The longest pause between two tries of a failing batch.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 100 ms backoff doubling up to 10 s.
    fn default() -> Self {
        Self {
            attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// `attempts` tries in all, pausing `backoff` after the first failure and doubling, up to 10 s.
    pub fn new(attempts: u32, backoff: Duration) -> Self {
        Self {
            attempts: attempts.max(1),
            backoff,
            max_backoff: Duration::from_secs(10).max(backoff),
        }
    }

    /// The pause after the `failures`-th consecutive failure (from 1), at most `ceiling`.
    pub(crate) fn delay(&self, failures: u32, ceiling: Duration) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.backoff.saturating_mul(factor).min(ceiling)
    }
}

/// What the runner does with an event whose handler still fails after every retry, or that
/// cannot be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnPoison {
    /// Stop the runner with [`ProjectionError::Poison`](crate::ProjectionError::Poison) naming
    /// the event; the checkpoint stays before it, so fixing the handler and restarting resumes
    /// there.
    #[default]
    Stop,
    /// Record the event in `chronicle_dead_letters`, in the transaction that moves the
    /// checkpoint past it, and go on with the next one.
    DeadLetter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let cap = Duration::from_millis(350);
        assert_eq!(policy.delay(1, cap), Duration::from_millis(100));
        assert_eq!(policy.delay(2, cap), Duration::from_millis(200));
        assert_eq!(policy.delay(3, cap), Duration::from_millis(350));
        assert_eq!(policy.delay(u32::MAX, cap), Duration::from_millis(350));
    }
}
