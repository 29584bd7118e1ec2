//! Where a projection rebuilt blue/green stands: which version is live, which one a deployment
//! reads, and how far each version's location got.

use crate::core::location::Locations;
use crate::core::projection::Identity;
use crate::core::read_store::ReadStore;
use crate::core::source::EventSource;
use crate::read::error::ProjectionError;
use crate::read::layout::location_version;
use crate::read::reads::progress_for;
use crate::read::status::{status_of, ProjectionStatus};

use super::locations::{read_pointer, serving, Pointer};

/// Where a projection rebuilt blue/green stands, for one version of it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BlueGreenStatus {
    /// The projection's name.
    pub projection: &'static str,
    /// The version this status is of (the deployment's).
    pub version: u32,
    /// The version queries read, if one has become live yet.
    pub live_version: Option<u32>,
    /// The version this deployment's queries read now: the live one while this version is newer
    /// and still being built, this version otherwise (but see [`plain_version`](Self::plain_version)).
    pub serving_version: u32,
    /// Before any version is live: the version of a read model a plain runner built in the store
    /// itself, which queries read until the first location has caught up and become live.
    pub plain_version: Option<u32>,
    /// This version's location: how far its read model got and what it has yet to apply (its
    /// lag while it is the shadow being built), and its runner's role.
    pub location: ProjectionStatus,
    /// Every version's location the store registers, in version order.
    pub locations: Vec<LocationStatus>,
}

/// One version's location, as the store registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocationStatus {
    /// The version whose read model the location holds.
    pub version: u32,
    /// How far through the log its read model is, as last recorded by a runner of it (`None`
    /// before the first event).
    pub position: Option<u64>,
    /// Whether it is the live version's.
    pub live: bool,
}

/// The status of `identity`'s version from the stores alone: the live pointer and registrations
/// in `base`, the progress in `location`.
pub(crate) async fn blue_green_status<R: Locations, S: EventSource>(
    source: &S,
    base: &R,
    location: &R,
    identity: Identity<'_>,
) -> Result<BlueGreenStatus, ProjectionError> {
    let Pointer {
        live: live_version,
        plain: plain_version,
    } = read_pointer(base, identity.name).await?;
    let mut locations = Vec::new();
    for (name, row) in base.checkpoints().await? {
        if let Some(version) = location_version(identity.name, &name) {
            let progress = progress_for(source, row.checkpoint, identity).await?;
            locations.push(LocationStatus {
                version,
                position: progress.position,
                live: live_version == Some(version),
            });
        }
    }
    locations.sort_by_key(|location| location.version);
    Ok(BlueGreenStatus {
        projection: identity.name,
        version: identity.version,
        live_version,
        serving_version: serving(live_version, identity.version),
        plain_version,
        location: status_of(source, location, identity).await?,
        locations,
    })
}

/// Whether `location`'s read model of `identity` has caught up with the log: built by this
/// version, with nothing of its types left to apply or held back.
pub(crate) async fn caught_up<R: ReadStore, S: EventSource>(
    source: &S,
    location: &R,
    identity: Identity<'_>,
) -> Result<bool, ProjectionError> {
    let status = status_of(source, location, identity).await?;
    Ok(status.stored_version == Some(identity.version)
        && status.lag_events == 0
        && status.held_back_events == 0)
}
