//! Where each projection stands, from the stores alone: what the dashboard, the projection page
//! and the sampler show. (`chronicle status` computes the same from the same runtime calls, and
//! tells the rows apart with the same [`CheckpointName`].)

use std::collections::HashMap;

use chronicle::{Checkpoint, CheckpointName, EventSource, Head, LocationRole, ReadStore};
use chrono::{DateTime, Utc};

use crate::error::AdminError;

/// One checkpoint row of the read store: a projection's, or one partition's.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionRow {
    /// The row's name: the projection's, or `<projection>/<i>-of-<n>` for a partition.
    pub name: String,
    /// The projection.
    pub projection: String,
    /// The partition, `(index, count)`, if the row is one.
    pub partition: Option<(u32, u32)>,
    /// For a version's location of a projection rebuilt blue/green (`<projection>/v<N>`), where
    /// it stands against the live version; its position is as its runner last recorded it.
    pub location: Option<LocationRole>,
    /// The version its read model was built with.
    pub version: u32,
    /// Its place in the subscription order.
    pub checkpoint: Checkpoint,
    /// The highest position it covers; `None` before the first event.
    pub position: Option<u64>,
    /// Events of any type after it: an upper bound of its lag (the stores do not know which
    /// types it handles), exact for a projection of every type.
    pub events_behind: u64,
    /// How long ago the first of those was recorded, in seconds.
    pub seconds_behind: f64,
    /// Events committed but held back behind an open transaction (Postgres).
    pub held_back: u64,
    /// Who holds its claim: a runner's id, or a session; `None` when no runner does.
    pub holder: Option<String>,
    /// How many dead letters its version recorded.
    pub dead_letters: usize,
    /// Whether an operator paused its runners (`chronicle::pause`): none leads until resumed.
    pub paused: bool,
}

/// What a projection is doing, as far as the stores tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A runner holds it and it has nothing left to apply.
    Live,
    /// A runner holds it and it is behind (catching up, or rebuilding after a new version).
    CatchingUp,
    /// No runner holds it: its lag grows with every event.
    NoRunner,
    /// An operator paused its runners: none applies events until it is resumed.
    Paused,
    /// A version's location of a projection rebuilt blue/green, which queries read.
    LiveVersion,
    /// A newer version's location being built beside the live one (or the first one, before any
    /// is live): queries switch to it once it has caught up.
    Building,
    /// An older version's location, kept while a deployment of it runs and dropped once its
    /// runners stopped and the grace period passed.
    OldVersion,
}

impl State {
    /// The word the pages show.
    pub fn label(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::CatchingUp => "catching up",
            Self::NoRunner => "no runner",
            Self::Paused => "paused",
            Self::LiveVersion => "live version",
            Self::Building => "building",
            Self::OldVersion => "old version",
        }
    }
}

impl ProjectionRow {
    /// What it is doing.
    pub fn state(&self) -> State {
        // A location's claim is kept in the location, which only the application opens: its
        // role is what the stores tell.
        match self.location {
            Some(LocationRole::Live) => return State::LiveVersion,
            Some(LocationRole::Building) => return State::Building,
            Some(LocationRole::Old) => return State::OldVersion,
            None => {}
        }
        if self.paused {
            return State::Paused;
        }
        match (&self.holder, self.events_behind) {
            (None, _) => State::NoRunner,
            (Some(_), 0) => State::Live,
            (Some(_), _) => State::CatchingUp,
        }
    }

    /// How far through the log it is, in percent of the head's position: a rebuild's progress.
    pub fn progress_percent(&self, head: &Head) -> u8 {
        let (Some(head), position) = (head.position, self.position.unwrap_or(0)) else {
            return 100;
        };
        if head == 0 || self.events_behind == 0 {
            return 100;
        }
        u8::try_from((position.min(head) * 100) / head).unwrap_or(100)
    }
}

/// Every projection's (and partition's) row, in name order.
pub async fn projections<S: EventSource, R: ReadStore>(
    source: &S,
    read: &R,
) -> Result<Vec<ProjectionRow>, AdminError> {
    let stored = read.checkpoints().await?;
    // The live versions of projections rebuilt blue/green: marker rows, not checkpoints.
    let live: HashMap<String, u32> = stored
        .iter()
        .filter_map(|(name, row)| match CheckpointName::of(name) {
            CheckpointName::Live(projection) => Some((projection.to_owned(), row.version)),
            _ => None,
        })
        .collect();
    let mut rows = Vec::new();
    for (name, row) in stored {
        let kind = CheckpointName::of(&name);
        let (partition, location) = match kind {
            CheckpointName::Projection(_) => (None, None),
            CheckpointName::Partition { partition, .. } => (Some((partition.index, partition.count)), None),
            CheckpointName::Location { projection, version } => (
                None,
                Some(LocationRole::of(live.get(projection).copied(), version)),
            ),
            // Markers, no checkpoints.
            _ => continue,
        };
        let projection = kind.projection().to_owned();
        let progress = source.progress(row.checkpoint, &[]).await?;
        let paused = chronicle::is_paused(read, &projection).await?;
        rows.push(ProjectionRow {
            projection,
            partition,
            location,
            version: row.version,
            checkpoint: row.checkpoint,
            position: progress.position,
            events_behind: progress.readable,
            seconds_behind: seconds_since(progress.oldest_readable_at),
            held_back: progress.held_back,
            holder: match location {
                Some(_) => None,
                None => read.holder(&name).await?,
            },
            dead_letters: read.dead_letters(&name, row.version).await?.len(),
            paused,
            name,
        });
    }
    Ok(rows)
}

/// The row of `name`, if the read store keeps one.
pub async fn projection<S: EventSource, R: ReadStore>(
    source: &S,
    read: &R,
    name: &str,
) -> Result<ProjectionRow, AdminError> {
    projections(source, read)
        .await?
        .into_iter()
        .find(|row| row.name == name)
        .ok_or_else(|| AdminError::NotFound(format!("no projection `{name}` has a checkpoint here")))
}

/// Seconds since `at`; zero for none (or a clock that went back).
fn seconds_since(at: Option<DateTime<Utc>>) -> f64 {
    at.and_then(|at| (Utc::now() - at).to_std().ok())
        .map_or(0.0, |age| age.as_secs_f64())
}

#[cfg(test)]
mod state {
    use chronicle::{Checkpoint, LocationRole};

    use super::{ProjectionRow, State};

    fn row(holder: Option<&str>, events_behind: u64, paused: bool) -> ProjectionRow {
        ProjectionRow {
            name: "p".to_owned(),
            projection: "p".to_owned(),
            partition: None,
            location: None,
            version: 1,
            checkpoint: Checkpoint::START,
            position: None,
            events_behind,
            seconds_behind: 0.0,
            held_back: 0,
            holder: holder.map(str::to_owned),
            dead_letters: 0,
            paused,
        }
    }

    #[test]
    fn the_state_follows_the_holder_the_lag_and_a_pause() {
        assert_eq!(row(Some("r"), 0, false).state(), State::Live);
        assert_eq!(row(Some("r"), 3, false).state(), State::CatchingUp);
        assert_eq!(row(None, 0, false).state(), State::NoRunner);
        assert_eq!(row(None, 3, true).state(), State::Paused);
        assert_eq!(row(Some("r"), 0, true).state(), State::Paused);
    }

    #[test]
    fn a_blue_green_location_shows_its_role() {
        let mut building = row(None, 40, false);
        building.location = Some(LocationRole::Building);
        assert_eq!(building.state(), State::Building);
        let mut live = row(None, 0, false);
        live.location = Some(LocationRole::Live);
        assert_eq!(live.state().label(), "live version");
        let mut old = row(None, 0, false);
        old.location = Some(LocationRole::Old);
        assert_eq!(old.state(), State::OldVersion);
    }
}
