//! Reading the log for a subscriber by its identity: its partition's events, or the whole log's.

use crate::core::error::StoreError;
use crate::core::pii::keys::SharedKeyStore;
use crate::core::pii::payload::reveal;
use crate::core::projection::Identity;
use crate::core::source::{Batch, Checkpoint, EventSource, Progress};

/// Reads the next batch for a subscriber of `identity`: its partition's, or the whole log's;
/// its `#[pii]` fields opened with `keys` (left sealed without).
pub(crate) async fn read_for<S: EventSource>(
    source: &S,
    after: Checkpoint,
    identity: Identity<'_>,
    limit: usize,
    keys: Option<&SharedKeyStore>,
) -> Result<Batch, StoreError> {
    let mut batch = read_sealed(source, after, identity, limit).await?;
    reveal(&mut batch.events, keys.map(|keys| &**keys)).await?;
    Ok(batch)
}

async fn read_sealed<S: EventSource>(
    source: &S,
    after: Checkpoint,
    identity: Identity<'_>,
    limit: usize,
) -> Result<Batch, StoreError> {
    match identity.partition {
        Some(partition) => {
            source
                .read_partition(after, identity.event_types, limit, partition)
                .await
        }
        None => source.read_batch(after, identity.event_types, limit).await,
    }
}

/// [`EventSource::progress`] for a subscriber of `identity`.
pub(crate) async fn progress_for<S: EventSource>(
    source: &S,
    after: Checkpoint,
    identity: Identity<'_>,
) -> Result<Progress, StoreError> {
    match identity.partition {
        Some(partition) => {
            source
                .partition_progress(after, identity.event_types, partition)
                .await
        }
        None => source.progress(after, identity.event_types).await,
    }
}
