//! Where a projection stands: how far its read model got, what it has yet to apply, and what its
//! runner is doing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::ProjectionError;
use crate::core::projection::Identity;
use crate::core::read_store::{CheckpointRow, ReadStore};
use crate::core::source::{Checkpoint, EventSource};
use crate::read::reads::progress_for;

/// What a runner is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunnerState {
    /// Started; not yet leading or on standby.
    Starting,
    /// Another runner of the projection is active; this one takes over when it goes away.
    Standby,
    /// Active, applying batches of past events.
    CatchingUp,
    /// Active and caught up, waiting for appends.
    Live,
    /// Paused by an operator ([`pause`](crate::pause)): leading nothing until resumed.
    Paused,
    /// Stopped on request.
    Stopped,
    /// Stopped by an error (see [`ProjectionStatus::last_error`]).
    Failed,
    /// No runner of this process is involved: the status was read from the stores alone.
    Detached,
}

/// Where a projection stands.
///
/// Compare [`position`](Self::position) with [`head_position`](Self::head_position) to see how far
/// through the log the read model is; [`lag_events`](Self::lag_events) and
/// [`held_back_events`](Self::held_back_events) say what it has yet to apply and why.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProjectionStatus {
    /// The projection's name.
    pub projection: &'static str,
    /// The projection's [`VERSION`](crate::Projection::VERSION).
    pub version: u32,
    /// The version the stored read model was built with, if it has a checkpoint yet. When it
    /// differs from `version`, the read model will be rebuilt and counts as empty.
    pub stored_version: Option<u32>,
    /// How far through the log the read model is: the highest global position it has applied or
    /// passed over (events of other types count as passed). Equal to `head_position` when it is
    /// caught up; `None` before it has reached the first event.
    pub position: Option<u64>,
    /// The highest global position in the event store, if any event is stored.
    pub head_position: Option<u64>,
    /// Events of the projection's types that can be read and are not yet applied: the work its
    /// runner has in front of it.
    pub lag_events: u64,
    /// How long ago the first of those was recorded; zero when there is none.
    pub lag: Duration,
    /// Events of the projection's types that are committed but not yet safe to read: a
    /// transaction that began before they were written is still open, and an event it commits
    /// must be applied before them (Postgres only). They are not counted in `lag_events`.
    pub held_back_events: u64,
    /// What holds them back, when known: the open transaction, its session and its age.
    pub held_back_by: Option<String>,
    /// The runner's place in the store's subscription order. An internal detail: on Postgres it
    /// is a transaction horizon that moves with unrelated transactions of the server, so read
    /// `position` instead.
    pub checkpoint: Checkpoint,
    /// Whether the runner behind this status is the projection's active one.
    pub leader: bool,
    /// What the runner behind this status is doing.
    pub state: RunnerState,
    /// The most recent error the runner met, with its causes, if any (kept after it recovered).
    pub last_error: Option<String>,
}

/// The status of a projection from the stores alone.
pub(crate) async fn status_of<R: ReadStore, S: EventSource>(
    source: &S,
    store: &R,
    identity: Identity<'_>,
) -> Result<ProjectionStatus, ProjectionError> {
    let row = store.read_checkpoint(identity.name).await?;
    let checkpoint = current(row, identity.version);
    let head = source.head().await?;
    let progress = progress_for(source, checkpoint, identity).await?;
    Ok(ProjectionStatus {
        projection: identity.name,
        version: identity.version,
        stored_version: row.map(|row| row.version),
        position: progress.position,
        head_position: head.position,
        lag_events: progress.readable,
        lag: age(progress.oldest_readable_at),
        held_back_events: progress.held_back,
        held_back_by: progress.held_back_by,
        checkpoint,
        leader: false,
        state: RunnerState::Detached,
        last_error: None,
    })
}

/// How long ago `at` was; zero for none (or a clock that went back).
fn age(at: Option<DateTime<Utc>>) -> Duration {
    at.and_then(|at| (Utc::now() - at).to_std().ok())
        .unwrap_or(Duration::ZERO)
}

/// The checkpoint a stored row stands for: the start when none, or when built by another version.
pub(crate) fn current(row: Option<CheckpointRow>, version: u32) -> Checkpoint {
    row.filter(|row| row.version == version)
        .map_or(Checkpoint::START, |row| row.checkpoint)
}
