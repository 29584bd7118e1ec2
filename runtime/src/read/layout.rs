//! The names a partitioned projection keeps in its read store, and its layout marker: how many
//! partitions, of which version, the read model was built with.
//!
//! Partition `i` of `n` of projection `p` keeps its checkpoint, lease and dead letters under
//! `p/i-of-n`; the marker is the checkpoint row `p/partitions` (its position holds `n`); the
//! one worker rebuilding the read model holds `p/setup`; worker slots are `p/worker-k`. A pause
//! of every runner of `p` (partitioned or not) is the marker row `p/paused` (see `control.rs`).
//!
//! A projection rebuilt blue/green keeps two kinds of marker rows in the store it was given (its
//! read models live in locations of their own): `p/live`, whose version is the version queries
//! read, and `p/v<N>` for each version's location, whose checkpoint mirrors that location's.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use crate::core::partition::Partition;
use crate::core::projection::Identity;
use crate::core::read_store::{CheckpointRow, ReadStore, ReadStoreError};
use crate::core::source::Checkpoint;

/// A name made at run time, kept for the life of the process (identities name projections with
/// `&'static str`); each distinct name is allocated once.
pub(crate) fn intern(name: String) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = names.get(name.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}

/// The name partition `partition` of `projection` is stored under.
pub(crate) fn partition_name(projection: &str, partition: Partition) -> &'static str {
    intern(format!("{projection}/{}-of-{}", partition.index, partition.count))
}

/// The name of the layout marker's row.
pub(crate) fn marker_name(projection: &str) -> &'static str {
    intern(format!("{projection}/partitions"))
}

/// The marker row of a pause of `projection`'s runners (all its partitions', when partitioned).
pub(crate) fn paused_name(projection: &str) -> &'static str {
    intern(format!("{projection}/paused"))
}

/// The claim a worker holds while it rebuilds the read model for a new layout.
pub(crate) fn setup_name(projection: &str) -> &'static str {
    intern(format!("{projection}/setup"))
}

/// Worker slot `slot` of `projection`'s workers.
pub(crate) fn worker_name(projection: &str, slot: u32) -> &'static str {
    intern(format!("{projection}/worker-{slot}"))
}

/// The row of the live version of a projection rebuilt blue/green.
pub(crate) fn live_name(projection: &str) -> &'static str {
    intern(format!("{projection}/live"))
}

/// The row registering the location of `version` of a projection rebuilt blue/green.
pub(crate) fn location_name(projection: &str, version: u32) -> &'static str {
    intern(format!("{projection}/v{version}"))
}

/// The version a row named `name` registers a location of, when it is such a row of
/// `projection`.
pub(crate) fn location_version(projection: &str, name: &str) -> Option<u32> {
    let version = name.strip_prefix(projection)?.strip_prefix("/v")?;
    // `u32` parsing takes a leading `+`; Chronicle writes none.
    version
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| version.parse().ok())
        .flatten()
}

/// The marker row of `count` partitions of `version`.
pub(crate) fn marker(version: u32, count: u32) -> CheckpointRow {
    CheckpointRow {
        version,
        checkpoint: Checkpoint {
            transaction_id: 0,
            position: u64::from(count),
        },
    }
}

/// The partition count a marker row holds, if it is one Chronicle could have written.
pub(crate) fn count_of(marker: CheckpointRow) -> Option<u32> {
    u32::try_from(marker.checkpoint.position)
        .ok()
        .and_then(|count| Partition::new(0, count).map(|_| count))
}

/// How many partitions the read model of `identity` is built with, when it is partitioned (by
/// its current version).
pub(crate) async fn partitions_of<R: ReadStore>(
    store: &R,
    identity: Identity<'_>,
) -> Result<Option<u32>, ReadStoreError> {
    let row = store.read_checkpoint(marker_name(identity.name)).await?;
    Ok(row
        .filter(|row| row.version == identity.version)
        .and_then(count_of))
}
