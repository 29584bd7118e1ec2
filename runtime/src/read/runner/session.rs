//! A leading runner's hold on the read store, and the one way its transactions end: the
//! checkpoint update fenced on its previous value, then the commit.
//!
//! Every transaction that moves the checkpoint (a batch, a dead letter, passing events of other
//! types, a reset) ends in [`commit_fenced`], so "exactly once" is decided in one place: the
//! update only matches the row this runner last committed, and a runner that finds the row moved
//! rolls back, because another runner took over.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::time::Instant;

use crate::core::read_store::{CheckpointRow, ReadStore, ReadTransaction};
use crate::core::source::Checkpoint;
use crate::core::store::RecordedEvent;
use crate::read::error::ProjectionError;

/// The test seam that makes a runner drop a batch's transaction uncommitted, as a crash would.
pub(super) type CrashHook = Arc<dyn Fn(&[RecordedEvent]) -> bool + Send + Sync>;

/// The runner's hold on the read store while it leads.
pub(super) struct Session<R: ReadStore> {
    pub(super) connection: R::Session,
    /// The checkpoint row as committed (`None`: no row yet).
    pub(super) row: Option<CheckpointRow>,
    /// When the claim on the projection was last renewed.
    pub(super) renewed: Instant,
    /// The positions of the events this version dead-lettered, so that a rebuild that applies
    /// one deletes its record in the same transaction.
    pub(super) dead_letters: BTreeSet<u64>,
}

impl<R: ReadStore> Session<R> {
    pub(super) fn checkpoint(&self) -> Checkpoint {
        self.row.map_or(Checkpoint::START, |row| row.checkpoint)
    }
}

/// How a fenced commit ended.
pub(super) enum Fence {
    /// The checkpoint moved to the new row, with everything the transaction wrote.
    Committed,
    /// Another runner had moved the checkpoint: nothing was committed.
    Moved,
}

/// Ends `tx`: moves `projection`'s checkpoint from `row` (as this runner committed it) to `next`,
/// fenced on that previous value, then commits, and records `next` in `row`. With a crash hook
/// that asks for it, drops the transaction uncommitted instead, as a crash between the update and
/// the commit would.
pub(super) async fn commit_fenced<R: ReadStore>(
    store: &R,
    mut tx: R::Transaction<'_>,
    projection: &'static str,
    row: &mut Option<CheckpointRow>,
    next: CheckpointRow,
    crash: Option<(&CrashHook, &[RecordedEvent])>,
) -> Result<Fence, ProjectionError> {
    if !store
        .save_checkpoint(tx.connection(), projection, *row, next)
        .await?
    {
        // A failed rollback means a broken connection, which the next `begin` reports.
        let _ = tx.rollback().await;
        return Ok(Fence::Moved);
    }
    if let Some((hook, events)) = crash {
        if hook(events) {
            drop(tx);
            return Err(ProjectionError::SimulatedCrash {
                projection,
                checkpoint: next.checkpoint,
            });
        }
    }
    tx.commit().await?;
    *row = Some(next);
    Ok(Fence::Committed)
}
