//! Read-your-writes across services: waiting until a consumer's read model has applied a
//! command's stream up to the receipt's version.
//!
//! The wait is by stream version, not by global position: a consumer applies messages in the
//! order the relay published them, which on Postgres is the order their transactions became
//! visible, not position order, so "applied something at or after position p" does not mean
//! "applied p". The stream's version is exact.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::error::ConsumerError;
use crate::core::error::error_chain;
use crate::core::read_store::ReadStore;
use crate::core::store::Receipt;
use crate::core::tenant::tenant_stream_key;
use crate::read::wait::{nap_or_progress, Polls};

/// Polls the consumed version of the receipt's stream until it reaches the receipt's version,
/// waking early on an in-process consumer's `progress`.
pub(super) async fn wait_for_stream<R: ReadStore>(
    store: &R,
    consumer: &str,
    receipt: &Receipt,
    timeout: Duration,
    mut progress: Option<watch::Receiver<u64>>,
) -> Result<(), ConsumerError> {
    if receipt.position.is_none() {
        return Ok(());
    }
    let started = Instant::now();
    let deadline = started + timeout;
    let mut polls = Polls::new();
    let mut reached = None;
    let mut last_error = None;
    // The consumer records a tenant's stream under its tenant's key (`apply.rs`).
    let stream = tenant_stream_key(&receipt.tenant, &receipt.stream_id);
    loop {
        match store.read_consumed_version(consumer, &stream).await {
            Ok(version) if version >= Some(receipt.stream_version) => return Ok(()),
            Ok(version) => reached = version,
            Err(error) if error.is_transient() => last_error = Some(error_chain(&error)),
            Err(error) => return Err(error.into()),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ConsumerError::Timeout {
                consumer: consumer.to_owned(),
                stream_id: receipt.stream_id.clone(),
                version: receipt.stream_version,
                reached,
                last_error,
                waited: now - started,
            });
        }
        let nap = polls.next_pause().min(deadline - now);
        nap_or_progress(nap, &mut progress).await;
    }
}
