//! An operator's hand on a projection from any process: pausing and resuming its runners, and
//! rebuilding its read model without the runner's process.
//!
//! A pause is a marker row `<projection>/paused` in the read store's checkpoint table (its
//! position 1 while paused, 0 once resumed), so that every runner of the projection, in every
//! process, sees it without being told: an active runner steps down when it next renews its claim
//! (a third of its lease), and no runner leads while it stays. The events wait in the log; resumed,
//! a runner carries on from the checkpoint.
//!
//! A detached rebuild empties the read model and moves its checkpoint back to the start in one
//! transaction fenced on the checkpoint, as the leading runner's own rebuild does: a runner that
//! leads elsewhere finds the checkpoint moved at its next commit, steps down, leads again and
//! replays from the first event.

use crate::core::projection::Projection;
use crate::core::read_store::{CheckpointRow, DeadLetters, ReadStore, ReadStoreError, ReadTransaction};
use crate::core::source::Checkpoint;
use crate::read::error::ProjectionError;
use crate::read::layout::{marker_name, paused_name};

/// How many times a detached rebuild or a pause reads the row again when it moved under it.
const ATTEMPTS: u32 = 5;

/// Whether the marker row of a pause says paused.
pub(crate) fn says_paused(row: Option<CheckpointRow>) -> bool {
    row.is_some_and(|row| row.checkpoint.position == 1)
}

/// Whether `projection`'s runners are paused (read on the store's query pool).
pub async fn is_paused<R: ReadStore>(store: &R, projection: &str) -> Result<bool, ReadStoreError> {
    Ok(says_paused(store.read_checkpoint(paused_name(projection)).await?))
}

/// Pauses every runner of `projection`, in every process: the active one steps down when it next
/// renews its claim, and none leads until [`resume`]. `false` when it was paused already.
pub async fn pause<R: ReadStore>(store: &R, projection: &str) -> Result<bool, ReadStoreError> {
    set_paused(store, projection, true).await
}

/// Lets the runners of a paused `projection` lead again. `false` when it was not paused.
pub async fn resume<R: ReadStore>(store: &R, projection: &str) -> Result<bool, ReadStoreError> {
    set_paused(store, projection, false).await
}

async fn set_paused<R: ReadStore>(store: &R, projection: &str, paused: bool) -> Result<bool, ReadStoreError> {
    let name = paused_name(projection);
    let next = CheckpointRow {
        version: 0,
        checkpoint: Checkpoint {
            transaction_id: 0,
            position: u64::from(paused),
        },
    };
    let mut session = store.connect().await?;
    let mut outcome = Ok(None);
    for _ in 0..ATTEMPTS {
        outcome = compare_and_set(store, &mut session, name, paused, next).await;
        if !matches!(outcome, Ok(None)) {
            break;
        }
    }
    R::close(session).await;
    // Moved every time: another operator keeps toggling it; what they set stands.
    outcome.map(|changed| changed.unwrap_or(false))
}

/// One try: `Some(changed)`, or `None` when the row moved between the read and the update.
async fn compare_and_set<R: ReadStore>(
    store: &R,
    session: &mut R::Session,
    name: &'static str,
    paused: bool,
    next: CheckpointRow,
) -> Result<Option<bool>, ReadStoreError> {
    let previous = store.load_checkpoint(session, name).await?;
    if says_paused(previous) == paused {
        return Ok(Some(false));
    }
    let mut tx = R::begin(session).await?;
    if !store
        .save_checkpoint(tx.connection(), name, previous, next)
        .await?
    {
        let _ = tx.rollback().await;
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(true))
}

/// Empties `projection`'s read model (its `#[reset]` method) and moves its checkpoint back to
/// the start, from a process that runs no runner of it (an operator's command): the runner that
/// leads, wherever it runs, replays from the first event. Refused when the read model is of
/// another version than this code's (the deployment of this version rebuilds it when it starts),
/// when the projection has no `#[reset]`, and for a partitioned projection (change its partition
/// count, or stop its workers, to rebuild it).
pub async fn rebuild_detached<P: Projection>(
    store: &P::Store,
    projection: &P,
) -> Result<(), ProjectionError> {
    if !P::HAS_RESET {
        return Err(ProjectionError::NoReset { projection: P::NAME });
    }
    if let Some(marker) = store.read_checkpoint(marker_name(P::NAME)).await? {
        return Err(ProjectionError::Partitioned {
            projection: P::NAME,
            partitions: crate::read::layout::count_of(marker).unwrap_or_default(),
        });
    }
    let mut session = store.connect().await?;
    let mut outcome = Ok(false);
    for _ in 0..ATTEMPTS {
        outcome = reset_once(store, &mut session, projection).await;
        if !matches!(outcome, Ok(false)) {
            break;
        }
    }
    P::Store::close(session).await;
    match outcome? {
        true => Ok(()),
        false => Err(ProjectionError::CheckpointMoving { projection: P::NAME }),
    }
}

/// One try of [`rebuild_detached`]: `false` when the checkpoint moved between the read and the
/// fenced update (a runner committed a batch), which the caller tries again.
async fn reset_once<P: Projection>(
    store: &P::Store,
    session: &mut <P::Store as ReadStore>::Session,
    projection: &P,
) -> Result<bool, ProjectionError> {
    let previous = store.load_checkpoint(session, P::NAME).await?;
    if let Some(row) = previous.filter(|row| row.version != P::VERSION) {
        return Err(ProjectionError::OtherVersion {
            projection: P::NAME,
            stored: row.version,
            current: P::VERSION,
        });
    }
    let next = CheckpointRow {
        version: P::VERSION,
        checkpoint: Checkpoint::START,
    };
    let mut tx = P::Store::begin(session).await?;
    if let Err(source) = projection.reset(tx.connection()).await {
        let _ = tx.rollback().await;
        return Err(ProjectionError::Reset {
            projection: P::NAME,
            source,
        });
    }
    store
        .delete_dead_letters(tx.connection(), P::NAME, DeadLetters::NotOfVersion(P::VERSION))
        .await?;
    if !store
        .save_checkpoint(tx.connection(), P::NAME, previous, next)
        .await?
    {
        let _ = tx.rollback().await;
        return Ok(false);
    }
    tx.commit().await?;
    tracing::info!(
        projection = P::NAME,
        "read model reset by an operator; the leading runner replays it"
    );
    Ok(true)
}
