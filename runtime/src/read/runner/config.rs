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
    /// Asked before each attempt to lead: `false` keeps the runner on standby (a partition's
    /// worker that holds its share already).
    pub(super) may_lead: Option<LeadGate>,
    /// The id the runner claims its lead under; a new one unless set (a partition's runner
    /// claims under its worker's, so that a claim's holder names the worker).
    pub(super) owner: Option<uuid::Uuid>,
    /// The key store `#[pii]` fields are opened with: the one given to the builder, else the
    /// source's own (set at `spawn`); none for a projection that publishes events as stored (a
    /// relay).
    pub(super) key_store: Option<crate::core::pii::keys::SharedKeyStore>,
    /// Where the runner lists its progress when spawned, for the read side that made it: its
    /// read-your-writes waits then wake on the runner's commits instead of polling.
    pub(super) progress_to: Option<ProgressRegistry>,
}

/// The progress of the runners a [`ReadSide`](crate::ReadSide) spawned in this process, by
/// projection name.
pub(crate) type ProgressRegistry = std::sync::Arc<
    std::sync::Mutex<
        std::collections::HashMap<
            &'static str,
            tokio::sync::watch::Receiver<crate::core::source::Checkpoint>,
        >,
    >,
>;

/// Whether a standby runner may try to lead now.
pub(crate) type LeadGate = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;
