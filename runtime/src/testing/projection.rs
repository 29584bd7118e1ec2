//! Given/then tests of a projection's handlers and queries: events applied straight to a read
//! store, without an event store or a runner, then the queries' answers checked.

use std::collections::HashMap;
use std::fmt;

use chrono::Utc;

use crate::core::error::HandlerError;
use crate::core::event::Event;
use crate::core::projection::Projection;
use crate::core::query::Query;
use crate::core::read_store::{ReadStore, ReadStoreError, ReadTransaction};
use crate::core::store::RecordedEvent;
use crate::read::read_side::{answer, QueryError};

/// A test of a projection: the events it has seen, then what its queries answer.
///
/// ```ignore
/// let mut test = ProjectionTest::new(SqliteReadStore::temporary().await?, OrderSummaries).await?;
/// test.given("shop.Order-o-1", OrderCreated { order_id: "o-1".into(), customer: "Ada".into() })
///     .await?;
/// assert_eq!(test.answer(&OpenOrders).await?.len(), 1);
/// ```
///
/// Each event is recorded as the store would: the next version of its stream, the next global
/// position, fresh ids, and applied at once through the projection's handlers in a transaction of
/// its own, exactly as a runner applies it (without the checkpoint). Queries answer through a
/// read-only transaction, as in production. Any read store works: a
/// [`SqliteReadStore::temporary`](crate::SqliteReadStore::temporary) needs no server.
pub struct ProjectionTest<P: Projection> {
    store: P::Store,
    projection: P,
    versions: HashMap<String, u64>,
    events: Vec<RecordedEvent>,
}

impl<P: Projection> fmt::Debug for ProjectionTest<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectionTest")
            .field("projection", &self.projection.identity().name)
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// Why a projection test could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionTestError {
    /// The read store failed.
    #[error(transparent)]
    Store(#[from] ReadStoreError),
    /// The event could not be written as JSON.
    #[error("event `{event_type}` cannot be written as JSON: {source}")]
    Encode {
        /// The event's stored type.
        event_type: &'static str,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// A handler (or `#[reset]`) failed on the event.
    #[error("the projection failed on {what}: {source}")]
    Handler {
        /// The event (stream, version, type), or `#[reset]`.
        what: String,
        /// The handler's error.
        #[source]
        source: HandlerError,
    },
    /// A query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl<P: Projection> ProjectionTest<P> {
    /// A test of `projection` on `store` (migrated), with its read model emptied by its
    /// `#[reset]`, as before a first build.
    pub async fn new(store: P::Store, projection: P) -> Result<Self, ProjectionTestError> {
        store.migrate().await?;
        let mut session = store.connect().await?;
        let mut tx = P::Store::begin(&mut session).await?;
        if let Err(source) = projection.reset(tx.connection()).await {
            let _ = tx.rollback().await;
            return Err(ProjectionTestError::Handler {
                what: "#[reset]".to_owned(),
                source,
            });
        }
        tx.commit().await?;
        P::Store::close(session).await;
        Ok(Self {
            store,
            projection,
            versions: HashMap::new(),
            events: Vec::new(),
        })
    }

    /// Records `event` on `stream_id` and applies it; returns it as recorded.
    pub async fn given<E: Event>(
        &mut self,
        stream_id: &str,
        event: E,
    ) -> Result<&RecordedEvent, ProjectionTestError> {
        let encode = |source| ProjectionTestError::Encode {
            event_type: E::NAME,
            source,
        };
        let version = self.versions.entry(stream_id.to_owned()).or_insert(0);
        *version += 1;
        // After every event given, those given as recorded included.
        let position = self.events.iter().map(|e| e.position).max().unwrap_or(0) + 1;
        let recorded = super::given::recorded(&event, position, stream_id.to_owned(), *version, Utc::now())
            .map_err(encode)?;
        self.apply(&recorded).await?;
        let index = self.events.len();
        self.events.push(recorded);
        Ok(&self.events[index])
    }

    /// Applies an event recorded elsewhere (an upcasting test's stored shape, say) as it is.
    pub async fn given_recorded(&mut self, event: RecordedEvent) -> Result<(), ProjectionTestError> {
        self.apply(&event).await?;
        let version = self.versions.entry(event.stream_id.clone()).or_insert(0);
        *version = (*version).max(event.stream_version);
        self.events.push(event);
        Ok(())
    }

    /// What `query` answers now.
    pub async fn answer<Q: Query<ReadModel = P>>(&self, query: &Q) -> Result<Q::Output, ProjectionTestError> {
        Ok(answer(&self.store, &self.projection, query, &crate::Tenant::none()).await?)
    }

    /// The events given so far, as recorded.
    pub fn events(&self) -> &[RecordedEvent] {
        &self.events
    }

    /// The read store, for what the queries do not show.
    pub fn store(&self) -> &P::Store {
        &self.store
    }

    async fn apply(&self, event: &RecordedEvent) -> Result<(), ProjectionTestError> {
        let mut session = self.store.connect().await?;
        let mut tx = P::Store::begin(&mut session).await?;
        if let Err(source) = self.projection.apply(event, tx.connection()).await {
            let _ = tx.rollback().await;
            return Err(ProjectionTestError::Handler {
                what: format!(
                    "event `{}` (stream `{}` version {})",
                    event.event_type, event.stream_id, event.stream_version
                ),
                source,
            });
        }
        tx.commit().await?;
        P::Store::close(session).await;
        Ok(())
    }
}
