//! Rebuilds without downtime (blue/green): a new version of a projection builds into a location
//! of its own beside the live version's while queries keep reading the live one; once caught up
//! with the log, it becomes the live version in one fenced update, and the old location is
//! dropped after a grace period, once no runner of the old version holds its claim.
//!
//! [`BlueGreenRunner`] is the builder; `supervisor.rs` its task (opening the location, running an
//! ordinary runner there, mirroring its progress, switching, retiring older locations);
//! `handle.rs` the [`BlueGreenHandle`]; `status.rs` [`BlueGreenStatus`]; `locations.rs` the live
//! pointer and the locations queries read (through [`ReadSide::query_live`](crate::ReadSide::query_live)).
//!
//! What the store keeps (the store the runner is given, called the base): `<projection>/live`,
//! a checkpoint row whose version is the live version, and `<projection>/v<N>`, a row per
//! version's location whose checkpoint mirrors that location's (for `chronicle status`). Each
//! location holds its own checkpoint, lease and dead letters, so two deployments of different
//! versions never rebuild each other's read model.

mod handle;
pub(crate) mod locations;
pub(crate) mod status;
mod supervisor;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument as _;

pub use self::handle::BlueGreenHandle;
use self::handle::Shared;
pub use self::status::{BlueGreenStatus, LocationStatus};
use self::supervisor::Supervisor;
use super::runner::ProjectionRunner;
use crate::core::location::Locations;
use crate::core::projection::Projection;
use crate::core::source::EventSource;

/// How long an old version's location is kept after it stopped being live and no runner of it
/// holds its claim, unless [`BlueGreenRunner::grace`] says otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);

/// The shortest grace period: longer than queries' cached live pointer (so that no query still
/// reads a location when it is dropped) and than a standby runner takes to follow a stopped one.
pub const MIN_GRACE: Duration = Duration::from_secs(1);

/// Runs a version of a projection blue/green: a builder, then [`spawn`](Self::spawn).
///
/// ```ignore
/// let handle = read_side
///     .blue_green(TallyV2::default())
///     .configure(|runner| runner.batch_size(1_000))
///     .grace(Duration::from_secs(300))
///     .spawn();
/// // Queries read the live version's read model throughout.
/// let balance = read_side.query_live(&projection, &BalanceOf(id)).await?;
/// ```
///
/// The runner opens the location of its projection's version in the store
/// ([`Locations::at_location`]: a schema, a file, a database or a Redis key namespace of its own)
/// and runs an ordinary [`ProjectionRunner`] there: leadership, fenced checkpoints, retries and
/// poison events are that runner's, inside the location. Beside it, every check interval, it:
///
/// - records the location's progress in the store's `<projection>/v<N>` row;
/// - once the location has caught up with the log (nothing of the projection's types left to
///   apply), makes its version the live one, when the live one is older (or none is): a fenced
///   update of the `<projection>/live` row, so the switch is atomic and never goes back (a
///   deployment of an older version never switches);
/// - while its version is live, drops the locations of older versions once the grace period has
///   passed with no runner holding their claim (their deployment is retired).
///
/// Queries read the live version's location through [`ReadSide::query_live`](crate::ReadSide::query_live),
/// never a location that is still being built: a deployment whose version is newer than the live
/// one reads the live one until its own has caught up and switched, so **its query code must be
/// able to read the previous version's tables** (as when a version changes only what handlers
/// compute, or adds columns the queries do not need yet); a deployment whose version is older
/// than the live one keeps reading its own location, which its runner keeps up to date, until it
/// is retired. Before any version is live, queries read the read model a plain runner built in
/// the store itself, if there is one (a projection moving to blue/green), and the deployment's
/// own location otherwise.
pub struct BlueGreenRunner<P: Projection, S> {
    runner: ProjectionRunner<P, S>,
    grace: Duration,
    check_every: Duration,
}

impl<P: Projection, S> fmt::Debug for BlueGreenRunner<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlueGreenRunner")
            .field("runner", &self.runner)
            .field("grace", &self.grace)
            .field("check_every", &self.check_every)
            .finish()
    }
}

impl<P: Projection, S: EventSource> BlueGreenRunner<P, S>
where
    P::Store: Locations,
{
    /// Runs `runner`'s projection blue/green, with its locations beside the runner's store.
    /// The grace period is [`DEFAULT_GRACE`], the check interval the runner's poll interval.
    pub fn new(runner: ProjectionRunner<P, S>) -> Self {
        let check_every = runner.poll();
        Self {
            runner,
            grace: DEFAULT_GRACE,
            check_every,
        }
    }

    /// Configures the runner of the location (batch size, poll interval, retries, poison policy,
    /// lease).
    pub fn configure(
        mut self,
        configure: impl FnOnce(ProjectionRunner<P, S>) -> ProjectionRunner<P, S>,
    ) -> Self {
        self.runner = configure(self.runner);
        self
    }

    /// How long an older version's location is kept once this version is live and no runner
    /// holds the older one's claim (at least [`MIN_GRACE`]). Keep it longer than any query.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace.max(MIN_GRACE);
        self
    }

    /// How often the location's progress is recorded, the switch considered and older locations
    /// looked at (at least every millisecond).
    pub fn check_every(mut self, interval: Duration) -> Self {
        self.check_every = interval.max(Duration::from_millis(1));
        self
    }

    /// Starts the runner on the Tokio runtime. Stop it with [`BlueGreenHandle::stop`].
    #[must_use = "the handle is how the runner is stopped and observed"]
    pub fn spawn(self) -> BlueGreenHandle<P, S> {
        let shared = Arc::new(Shared::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        let source = self.runner.source().clone();
        let base = self.runner.store().clone();
        let identity = self.runner.projection().identity();
        let span = tracing::info_span!(
            "chronicle.blue_green",
            projection = identity.name,
            version = identity.version
        );
        let supervisor = Supervisor::new(self.runner, self.grace, self.check_every, shared.clone(), stop_rx);
        let task = tokio::spawn(supervisor.run().instrument(span));
        BlueGreenHandle::new(shared, stop_tx, task, source, base)
    }
}
