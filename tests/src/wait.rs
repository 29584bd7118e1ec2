//! Waiting on a condition with a deadline, instead of sleeping and hoping the state is there.
//!
//! A test that sleeps and then asserts a state passes or fails with the machine's load; one that
//! waits for the state, and fails only when it has not come by a generous deadline, does not.
//! Tests poll through these helpers (and the subscription tests' `Tailer`, which reads until
//! what it expects has arrived). Negatives ("X never happens") are not proven by waiting at all:
//! tests observe an event that must come after X would have (a hook, a counter, a channel; see
//! [`crate::spy`]).

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a condition may take before a test fails: generous, because the machine is shared
/// and Postgres holds back events behind other tests' open transactions.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The pace of polling: how often a condition is probed, not how long anything is given.
const POLL: Duration = Duration::from_millis(5);

/// Probes until `probe` returns `Some`, and returns its value; fails the test, naming `what`,
/// when `deadline` has passed first.
///
/// ```ignore
/// let snapshot = eventually("the snapshot at version 10", DEADLINE, || async {
///     store.read_snapshot(STREAM).await.unwrap().filter(|s| s.stream_version == 10)
/// })
/// .await;
/// ```
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a condition that needs no `await`.
pub async fn until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    eventually(what, deadline, || std::future::ready(done().then_some(()))).await
}
