//! The read of the next batch while one is applied, so that the event store and the read store
//! work at the same time while a runner catches up.

use tokio::task::JoinHandle;

use std::sync::Arc;

use crate::core::error::StoreError;
use crate::core::pii::keys::SharedKeyStore;
use crate::core::projection::Projection;
use crate::core::source::{Batch, Checkpoint, EventSource};
use crate::read::reads::read_for;

/// A batch being read from `after` on. Used only if the checkpoint ends exactly there; dropping
/// it stops the read.
pub(super) struct ReadAhead {
    pub(super) after: Checkpoint,
    task: JoinHandle<Result<Batch, StoreError>>,
}

impl ReadAhead {
    pub(super) fn start<S: EventSource, P: Projection>(
        source: S,
        after: Checkpoint,
        projection: Arc<P>,
        limit: usize,
        keys: Option<SharedKeyStore>,
    ) -> Self {
        let task = tokio::spawn(async move {
            read_for(&source, after, projection.identity(), limit, keys.as_ref()).await
        });
        Self { after, task }
    }

    /// The batch, or `None` if the read could not finish (the runtime is shutting down).
    pub(super) async fn result(mut self) -> Option<Result<Batch, StoreError>> {
        (&mut self.task).await.ok()
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}
