//! Time travel on the read side: a projection's read model as it was at a position or a time,
//! rebuilt into a separate read store while the live one carries on.

use chrono::{DateTime, Utc};

use super::error::{PoisonEvent, ProjectionError};
use crate::core::projection::Projection;
use crate::core::read_store::{ReadStore, ReadTransaction};
use crate::core::store::{EventStore, RecordedEvent};

/// Events read from the log per query while replaying.
const PAGE: usize = 500;

/// How much of the log [`replay_until`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Every event at or before this global position.
    Position(u64),
    /// The events recorded at or before this time (their `recorded_at`, the store's clock), in
    /// log order: the replay stops at the first event recorded later.
    Time(DateTime<Utc>),
}

impl Until {
    fn includes(&self, event: &RecordedEvent) -> bool {
        match self {
            Until::Position(position) => event.position <= *position,
            Until::Time(at) => event.recorded_at <= *at,
        }
    }
}

/// What [`replay_until`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// How many events of the projection's types were applied.
    pub applied: u64,
    /// The position of the last event of the log inside the bound (of any type), if any: the
    /// read model is the one a runner would have built from the log up to here.
    pub through: Option<u64>,
}

/// Why [`replay_until`] did not build the read model. Nothing was committed to the target.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The target holds a checkpoint of the projection: it is where a runner keeps the live read
    /// model, which a replay would overwrite.
    #[error(
        "the target read store holds the live read model of projection `{projection}` (it has a \
         checkpoint there): replay into another schema or database file"
    )]
    TargetIsLive {
        /// The projection.
        projection: &'static str,
    },
    /// The event store or the target read store failed, the `#[reset]` method failed, or a
    /// handler failed on an event ([`ProjectionError::Poison`], tried once).
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

/// Builds `projection`'s read model in `target` from the events of `source` up to `until`, as
/// the live read model looked when the log ended there, without touching the live one.
///
/// `target` is a read store of its own: another Postgres schema
/// ([`PostgresReadStore::with_schema`](crate::PostgresReadStore::with_schema)), another
/// database, or another SQLite file. Its Chronicle tables are created if missing; a target that
/// holds a checkpoint of the projection is refused ([`ReplayError::TargetIsLive`]), and no
/// checkpoint is written there, so a runner never mistakes the replay for a live read model.
///
/// In one transaction of the target: the projection's `#[reset]` method (if it has one: it
/// should create or empty the read model's tables in the target only, e.g. `CREATE TABLE IF NOT
/// EXISTS` then `DELETE`), then every event of [`Projection::EVENT_TYPES`] inside the bound, in
/// global position order, then commit. A failure rolls everything back.
///
/// Events are applied in position order, which is each stream's own order; the live runner
/// applies events of concurrent transactions in commit order, which may interleave streams
/// differently but never changes what each stream contributes. A position still being written
/// (a transaction in flight below it) is not waited for: replay positions of the past.
pub async fn replay_until<P, S>(
    source: &S,
    projection: &P,
    target: &P::Store,
    until: Until,
) -> Result<Replayed, ReplayError>
where
    P: Projection,
    S: EventStore,
{
    target.migrate().await.map_err(ProjectionError::from)?;
    if target
        .read_checkpoint(P::NAME)
        .await
        .map_err(ProjectionError::from)?
        .is_some()
    {
        return Err(ReplayError::TargetIsLive { projection: P::NAME });
    }
    let mut session = target.connect().await.map_err(ProjectionError::from)?;
    let replayed = replay_in(source, projection, &mut session, until).await;
    P::Store::close(session).await;
    let replayed = replayed?;
    tracing::info!(
        projection = P::NAME,
        applied = replayed.applied,
        through = ?replayed.through,
        "replayed"
    );
    Ok(replayed)
}

/// The replay's one transaction, on a session of the target.
async fn replay_in<P: Projection, S: EventStore>(
    source: &S,
    projection: &P,
    session: &mut <P::Store as ReadStore>::Session,
    until: Until,
) -> Result<Replayed, ReplayError> {
    let mut tx = P::Store::begin(session).await.map_err(ProjectionError::from)?;
    if P::HAS_RESET {
        projection
            .reset(tx.connection())
            .await
            .map_err(|source| ProjectionError::Reset {
                projection: P::NAME,
                source,
            })?;
    }
    let mut replayed = Replayed {
        applied: 0,
        through: None,
    };
    let mut after = 0;
    // The source's key store opens `#[pii]` fields (forgotten subjects' read redacted).
    let keys = source.key_store().filter(|_| P::REVEALS_PII);
    'log: loop {
        let mut page = source
            .read_all(after, PAGE)
            .await
            .map_err(ProjectionError::from)?;
        crate::core::pii::payload::reveal(&mut page, keys.as_deref())
            .await
            .map_err(ProjectionError::from)?;
        let Some(last) = page.last() else { break };
        after = last.position;
        for event in &page {
            if !until.includes(event) {
                break 'log;
            }
            replayed.through = Some(event.position);
            if !P::EVENT_TYPES.contains(&event.event_type.as_str()) {
                continue;
            }
            if let Err(source) = projection.apply(event, tx.connection()).await {
                let _ = tx.rollback().await;
                return Err(
                    ProjectionError::Poison(Box::new(PoisonEvent::of(P::NAME, event, 1, source))).into(),
                );
            }
            replayed.applied += 1;
        }
        if page.len() < PAGE {
            break;
        }
    }
    tx.commit().await.map_err(ProjectionError::from)?;
    Ok(replayed)
}
