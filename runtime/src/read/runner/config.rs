//! What a runner's builder sets: batches, polling, retries, the poison policy, the lease.

use std::time::Duration;

use super::policy::{OnPoison, RetryPolicy};
use super::session::CrashHook;

/// How a runner was configured by its builder.
#[derive(Clone)]
pub(super) struct Config {
    pub(super) batch_size: usize,
    pub(super) poll_interval: Duration,
    pub(super) retry: RetryPolicy,
    pub(super) on_poison: OnPoison,
    pub(super) lease: Duration,
    pub(super) crash_before_commit: Option<CrashHook>,
}
