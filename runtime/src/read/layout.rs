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
    match CheckpointName::of(name) {
        CheckpointName::Location {
            projection: of,
            version,
        } if of == projection => Some(version),
        _ => None,
    }
}

/// What a row of a read store's checkpoint table is, told by its name: the rows Chronicle keeps
/// besides projections' own checkpoints, for the tools that list them (`chronicle status`, the
/// admin page). The inverse of the names above, in the one place that knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointName<'a> {
    /// A projection's own checkpoint (`<projection>`).
    Projection(&'a str),
    /// One partition's checkpoint of a partitioned projection (`<projection>/<i>-of-<n>`).
    Partition {
        /// The projection.
        projection: &'a str,
        /// Which partition of how many.
        partition: Partition,
    },
    /// The registration of one version's location of a projection rebuilt blue/green
    /// (`<projection>/v<N>`): its checkpoint mirrors the location's, as its runner last
    /// recorded it.
    Location {
        /// The projection.
        projection: &'a str,
        /// The version whose read model the location holds.
        version: u32,
    },
    /// The live version of a projection rebuilt blue/green (`<projection>/live`): the row's
    /// version is the one queries read. A marker, no checkpoint.
    Live(&'a str),
    /// A partitioned projection's layout (`<projection>/partitions`). A marker, no checkpoint.
    Layout(&'a str),
    /// A pause of a projection's runners (`<projection>/paused`), in force while the row's
    /// position is 1 (see [`pause`](crate::pause)). A marker, no checkpoint.
    Paused(&'a str),
}

impl<'a> CheckpointName<'a> {
    /// What the row named `name` is. A name with a suffix Chronicle does not write (`a/v+2`,
    /// `a/x-of-4`) is a projection's own.
    pub fn of(name: &'a str) -> Self {
        let Some((projection, last)) = name.rsplit_once('/') else {
            return Self::Projection(name);
        };
        match last {
            "live" => return Self::Live(projection),
            "partitions" => return Self::Layout(projection),
            "paused" => return Self::Paused(projection),
            _ => {}
        }
        if let Some((index, count)) = last.split_once("-of-") {
            if let (Some(index), Some(count)) = (digits(index), digits(count)) {
                if let Some(partition) = Partition::new(index, count) {
                    return Self::Partition {
                        projection,
                        partition,
                    };
                }
            }
        }
        if let Some(version) = last.strip_prefix('v').and_then(digits) {
            return Self::Location { projection, version };
        }
        Self::Projection(name)
    }

    /// Whether the row is a checkpoint (a projection's, a partition's or a location's), not a
    /// marker.
    pub fn is_checkpoint(&self) -> bool {
        matches!(
            self,
            Self::Projection(_) | Self::Partition { .. } | Self::Location { .. }
        )
    }

    /// The projection the row belongs to.
    pub fn projection(&self) -> &'a str {
        match *self {
            Self::Projection(projection)
            | Self::Partition { projection, .. }
            | Self::Location { projection, .. }
            | Self::Live(projection)
            | Self::Layout(projection)
            | Self::Paused(projection) => projection,
        }
    }
}

/// A number written with ASCII digits only (`u32` parsing also takes a leading `+`, which
/// Chronicle never writes).
fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Where one version's location of a projection rebuilt blue/green stands against the live
/// version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocationRole {
    /// Queries read it.
    Live,
    /// Newer than the live version, or none is live yet: being built, becoming live once it has
    /// caught up.
    Building,
    /// Older than the live version: kept while a deployment of it runs, dropped once its runners
    /// stopped and the grace period passed.
    Old,
}

impl LocationRole {
    /// The role of the location of `version` when `live` is the live version.
    pub fn of(live: Option<u32>, version: u32) -> Self {
        match live {
            Some(live) if live == version => Self::Live,
            Some(live) if live > version => Self::Old,
            _ => Self::Building,
        }
    }

    /// The word tools show: `live`, `building` or `old`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Building => "building",
            Self::Old => "old",
        }
    }
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

#[cfg(test)]
mod names {
    use super::{CheckpointName, LocationRole, Partition};

    #[test]
    fn every_row_chronicle_writes_is_told_apart() {
        assert_eq!(
            CheckpointName::of("bank.balances"),
            CheckpointName::Projection("bank.balances")
        );
        assert_eq!(
            CheckpointName::of("bank.balances/2-of-4"),
            CheckpointName::Partition {
                projection: "bank.balances",
                partition: Partition::new(2, 4).unwrap()
            }
        );
        assert_eq!(
            CheckpointName::of("bank.balances/v2"),
            CheckpointName::Location {
                projection: "bank.balances",
                version: 2
            }
        );
        assert_eq!(CheckpointName::of("b/live"), CheckpointName::Live("b"));
        assert_eq!(CheckpointName::of("b/partitions"), CheckpointName::Layout("b"));
        assert_eq!(CheckpointName::of("b/paused"), CheckpointName::Paused("b"));
        // What Chronicle never writes is a projection's own name.
        for name in ["a/v", "a/v+2", "a/vx", "a/x-of-4", "a/4-of-0", "a/+1-of-2", "a/"] {
            assert_eq!(
                CheckpointName::of(name),
                CheckpointName::Projection(name),
                "{name}"
            );
        }
        // The projection part keeps its own slashes.
        assert_eq!(CheckpointName::of("a/b/live").projection(), "a/b");
        assert!(!CheckpointName::of("a/live").is_checkpoint());
        assert!(CheckpointName::of("a/v3").is_checkpoint());
        assert_eq!(super::location_version("a", "a/v3"), Some(3));
        assert_eq!(super::location_version("a", "ab/v3"), None);
    }

    #[test]
    fn a_location_is_live_building_or_old() {
        assert_eq!(LocationRole::of(Some(2), 2), LocationRole::Live);
        assert_eq!(LocationRole::of(Some(2), 1), LocationRole::Old);
        assert_eq!(LocationRole::of(Some(2), 3), LocationRole::Building);
        assert_eq!(LocationRole::of(None, 1), LocationRole::Building);
        assert_eq!(LocationRole::Old.label(), "old");
    }
}
