//! The read side of an application, as one handle: queries (eventual or consistent with a
//! command), waits, status, dead letters, and runners.

use std::sync::Arc;
use std::time::Duration;

use super::blue_green::locations::{serving, LocationCache};
use super::blue_green::status::blue_green_status;
use super::blue_green::{BlueGreenRunner, BlueGreenStatus};
use super::error::ProjectionError;
use super::partitioned::PartitionedRunner;
use super::runner::{ProgressRegistry, ProjectionRunner};
use super::status::{status_of, ProjectionStatus};
use super::wait::wait_for_checkpoint;
use crate::core::error::HandlerError;
use crate::core::location::Locations;
use crate::core::projection::{Identity, Projection};
use crate::core::query::{Answer, Query, ReadOnly};
use crate::core::read_store::{DeadLetter, ReadStore, ReadTransaction};
use crate::core::source::{Checkpoint, EventSource};
use crate::core::store::{EventStore, Receipt};
use crate::core::tenant::Tenant;

/// Why a query has no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query's handler failed (a database error, including a refused write, or its own).
    #[error("query failed: {0}")]
    Handler(#[source] HandlerError),
    /// The read store or the event store failed, or the read model did not catch up in time
    /// ([`ProjectionError::Timeout`]).
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

/// The read side of an application: the event store its projections follow and the read store
/// their read models live in. Runs queries, waits for read models, reports on them, and makes
/// runners.
///
/// A read side is bound to a [`Tenant`] ([`for_tenant`](Self::for_tenant); none unless bound):
/// its queries are asked for that tenant ([`ReadOnly::tenant`]), and its dead letters are that
/// tenant's events'. Its projections, which follow every tenant, are the same.
///
/// Cheap to clone when the stores are.
#[derive(Debug, Clone)]
pub struct ReadSide<S, R> {
    source: S,
    store: R,
    tenant: Tenant,
    /// The blue/green locations this read side's queries opened, and the live pointers they read.
    locations: Arc<LocationCache<R>>,
    /// The progress of the runners it spawned here: what its read-your-writes waits wake on.
    runners: ProgressRegistry,
}

impl<S: EventSource, R: ReadStore> ReadSide<S, R> {
    /// A read side following `source` with read models in `store`.
    pub fn new(source: S, store: R) -> Self {
        Self {
            source,
            store,
            tenant: Tenant::none(),
            locations: Arc::default(),
            runners: ProgressRegistry::default(),
        }
    }

    /// The progress of this read side's runner of `name` in this process, if it spawned one.
    fn progress_of(&self, name: &str) -> Option<tokio::sync::watch::Receiver<Checkpoint>> {
        let runners = self
            .runners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        runners.get(name).cloned()
    }

    /// The same read side (sharing its stores), its queries and dead letters scoped to
    /// `tenant`.
    pub fn for_tenant(&self, tenant: Tenant) -> Self
    where
        S: Clone,
        R: Clone,
    {
        Self {
            tenant,
            ..self.clone()
        }
    }

    /// The tenant this read side's queries are asked for.
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// The event store.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The read store.
    pub fn store(&self) -> &R {
        &self.store
    }

    /// A runner of `projection` from this read side's event store into its read store.
    pub fn runner<P: Projection<Store = R>>(&self, projection: P) -> ProjectionRunner<P, S> {
        ProjectionRunner::new(self.source.clone(), self.store.clone(), projection)
            .progress_to(Arc::clone(&self.runners))
    }

    /// A worker of `projection` split into `partitions`, on this read side's stores (see
    /// [`PartitionedRunner`]).
    pub fn partitioned<P: Projection<Store = R>>(
        &self,
        projection: P,
        partitions: u32,
    ) -> PartitionedRunner<P, S> {
        PartitionedRunner::new(self.source.clone(), self.store.clone(), projection, partitions)
    }

    /// A runner of `projection` rebuilt blue/green: in a location of its own beside this read
    /// side's read store, becoming the live version once caught up (see [`BlueGreenRunner`]).
    pub fn blue_green<P: Projection<Store = R>>(&self, projection: P) -> BlueGreenRunner<P, S>
    where
        R: Locations,
    {
        BlueGreenRunner::new(self.runner(projection))
    }

    /// Answers `query` from the live version of `read_model`, a projection run blue/green: the
    /// live version's location while `read_model`'s version is newer (still being built), its
    /// own otherwise (see [`BlueGreenRunner`]); before any version is live, the read model a plain
    /// [`ProjectionRunner`](crate::ProjectionRunner) built in the store itself, when there is
    /// one (a projection moving to blue/green). The live pointer is read at most every 100 ms;
    /// the switch is one committed update, so a query reads either the old read model, whole, or
    /// the new one, caught up.
    pub async fn query_live<Q>(&self, read_model: &Q::ReadModel, query: &Q) -> Result<Q::Output, QueryError>
    where
        Q: Query,
        Q::ReadModel: Projection<Store = R>,
        R: Locations,
    {
        let name = <Q::ReadModel as Projection>::NAME;
        let version = <Q::ReadModel as Projection>::VERSION;
        let pointer = self
            .locations
            .pointer(&self.store, name)
            .await
            .map_err(ProjectionError::from)?;
        if pointer.live.is_none() && pointer.plain.is_some() {
            // A plain runner's read model, whole, while the first location is being built.
            return answer(&self.store, read_model, query, &self.tenant).await;
        }
        let reads = serving(pointer.live, version);
        // Older locations are not read again from here; SQLite's files are let go.
        self.locations.forget_older(name, reads, version);
        let store = self
            .locations
            .store(&self.store, name, reads)
            .await
            .map_err(ProjectionError::from)?;
        answer(&store, read_model, query, &self.tenant).await
    }

    /// Where projection `P`, run blue/green, stands, from the stores alone: the live version,
    /// the one `P`'s queries read, and the progress of `P`'s version's location (and of every
    /// registered one).
    pub async fn blue_green_status<P: Projection<Store = R>>(
        &self,
    ) -> Result<BlueGreenStatus, ProjectionError>
    where
        R: Locations,
    {
        let location = self.locations.store(&self.store, P::NAME, P::VERSION).await?;
        blue_green_status(&self.source, &self.store, &location, Identity::of::<P>()).await
    }

    /// Answers `query` from `read_model` as it is now, in a read-only transaction that is
    /// rolled back afterwards.
    pub async fn query<Q>(&self, read_model: &Q::ReadModel, query: &Q) -> Result<Q::Output, QueryError>
    where
        Q: Query,
        Q::ReadModel: Projection<Store = R>,
    {
        answer(&self.store, read_model, query, &self.tenant).await
    }

    /// Answers `query` once `read_model` includes the events of the command behind `receipt`
    /// (read-your-writes), waiting up to `timeout` for its runner, wherever that runs. Fails with
    /// [`ProjectionError::Timeout`] (inside [`QueryError::Projection`]) when it does not catch up
    /// in time.
    pub async fn query_consistent<Q>(
        &self,
        read_model: &Q::ReadModel,
        query: &Q,
        receipt: &Receipt,
        timeout: Duration,
    ) -> Result<Q::Output, QueryError>
    where
        Q: Query,
        Q::ReadModel: Projection<Store = R>,
    {
        wait_for_checkpoint(
            &self.source,
            &self.store,
            Identity::of::<Q::ReadModel>(),
            receipt.position,
            Some(&receipt.stream_id),
            timeout,
            self.progress_of(<Q::ReadModel as Projection>::NAME),
        )
        .await?;
        self.query(read_model, query).await
    }

    /// Waits until projection `P`'s read model includes the event at global `position` (a
    /// [`Receipt`]'s), whichever process runs it. `None` (the command recorded nothing) is
    /// ready at once. Fails with [`ProjectionError::Timeout`] after `timeout`.
    pub async fn wait_for<P: Projection<Store = R>>(
        &self,
        position: Option<u64>,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        wait_for_checkpoint(
            &self.source,
            &self.store,
            Identity::of::<P>(),
            position,
            None,
            timeout,
            self.progress_of(P::NAME),
        )
        .await
    }

    /// Where projection `P` stands, from the stores alone (its `state` is
    /// [`Detached`](crate::RunnerState::Detached); a runner's handle knows more).
    pub async fn status<P: Projection<Store = R>>(&self) -> Result<ProjectionStatus, ProjectionError> {
        status_of(&self.source, &self.store, Identity::of::<P>()).await
    }

    /// The dead letters of projection `P`: those its current version recorded; on a read side
    /// bound to a tenant, only those of that tenant's events.
    pub async fn dead_letters<P: Projection<Store = R>>(&self) -> Result<Vec<DeadLetter>, ProjectionError> {
        let letters = self.store.dead_letters(P::NAME, P::VERSION).await?;
        if self.tenant.is_none() {
            return Ok(letters);
        }
        Ok(dead_letters_of_tenant(&self.source, letters, &self.tenant).await?)
    }
}

/// The letters among `letters` whose event is `tenant`'s, as the event store says: a letter
/// names its event by position, and the event there carries its tenant. A letter whose event is
/// not in the log (or cannot be read there) is nobody's and left out.
pub async fn dead_letters_of_tenant<S: EventStore>(
    source: &S,
    letters: Vec<DeadLetter>,
    tenant: &Tenant,
) -> Result<Vec<DeadLetter>, crate::core::error::StoreError> {
    // The whole log, whatever tenant the source itself is bound to.
    let log = source.for_tenant(Tenant::none());
    let mut kept = Vec::with_capacity(letters.len());
    for letter in letters {
        let at = log.read_all(letter.position.saturating_sub(1), 1).await?;
        if at
            .first()
            .is_some_and(|event| event.position == letter.position && event.tenant == tenant.as_str())
        {
            kept.push(letter);
        }
    }
    Ok(kept)
}

/// Answers `query` from `read_model` in `store` as it is now, in a read-only transaction that is
/// rolled back afterwards, off the answer's path.
pub(crate) async fn answer<Q, R>(
    store: &R,
    read_model: &Q::ReadModel,
    query: &Q,
    tenant: &Tenant,
) -> Result<Q::Output, QueryError>
where
    Q: Query,
    R: ReadStore,
    Q::ReadModel: Projection<Store = R>,
{
    let mut tx = store.begin_read_only().await.map_err(ProjectionError::from)?;
    let answer = {
        let mut db = ReadOnly::new(tx.connection(), tenant.clone());
        read_model.answer(query, &mut db).await
    };
    // Nothing to keep, so the answer does not wait for the rollback's round trip: dropped, the
    // transaction queues its rollback, which the pool sends with its check of the connection
    // as it takes the connection back, in a task of its own (sqlx's release).
    drop(tx);
    answer.map_err(QueryError::Handler)
}
