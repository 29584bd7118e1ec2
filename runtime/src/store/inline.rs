//! Inline projections: read models updated in the same Postgres transaction as the append, for
//! views that must never be stale.
//!
//! The price is the one every inline view pays: a failing handler fails the command (nothing is
//! appended), and the view's writes lengthen every append. Prefer an asynchronous runner unless a
//! reader truly cannot wait.

use std::sync::Arc;

use sqlx::PgConnection;

use super::postgres::{map_sqlx, PostgresStore};
use super::{EventStore, NewEvent, RecordedEvent};
use crate::command::Receipt;
use crate::error::StoreError;
use crate::projection::{BoxFuture, HandlerError, Projection, ReadStore};

/// A projection whose read model lives in the event store's own Postgres database.
trait InlineProjection: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    fn apply_all<'a>(
        &'a self,
        events: &'a [RecordedEvent],
        transaction: &'a mut PgConnection,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;
}

impl<P> InlineProjection for P
where
    P: Projection,
    P::Store: ReadStore<Connection = PgConnection>,
{
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn apply_all<'a>(
        &'a self,
        events: &'a [RecordedEvent],
        transaction: &'a mut PgConnection,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            for event in events
                .iter()
                .filter(|e| P::EVENT_TYPES.contains(&e.event_type.as_str()))
            {
                self.apply(event, transaction).await?;
            }
            Ok(())
        })
    }
}

/// A [`PostgresStore`] that applies its inline projections to every append, in the append's
/// transaction. Build it with [`PostgresStore::with_inline`]; it is an [`EventStore`] and an
/// [`EventSource`] like the store it wraps.
///
/// Inline projections keep no checkpoint: they are exactly as current as the log. Rebuild one
/// with a [`ProjectionRunner`](crate::projection::ProjectionRunner) while no commands run.
#[derive(Clone)]
pub struct InlineStore {
    store: PostgresStore,
    projections: Vec<Arc<dyn InlineProjection>>,
}

impl PostgresStore {
    /// Applies `projection` in the same transaction as every append. Its read model must live in
    /// this store's database (its handlers take `&mut PgConnection`).
    pub fn with_inline<P>(self, projection: P) -> InlineStore
    where
        P: Projection,
        P::Store: ReadStore<Connection = PgConnection>,
    {
        InlineStore {
            store: self,
            projections: Vec::new(),
        }
        .with_inline(projection)
    }
}

impl InlineStore {
    /// Adds another inline projection; they run in the order they were added.
    pub fn with_inline<P>(mut self, projection: P) -> Self
    where
        P: Projection,
        P::Store: ReadStore<Connection = PgConnection>,
    {
        self.projections.push(Arc::new(projection));
        self
    }

    /// The wrapped store.
    pub fn store(&self) -> &PostgresStore {
        &self.store
    }
}

impl EventStore for InlineStore {
    async fn append(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        if events.is_empty() {
            return self.store.append(stream_id, expected_version, events).await;
        }
        let mut transaction = self.store.pool().begin().await.map_err(map_sqlx)?;
        let recorded = self
            .store
            .append_in(&mut transaction, stream_id, expected_version, events)
            .await?;
        for projection in &self.projections {
            projection
                .apply_all(&recorded, &mut transaction)
                .await
                .map_err(|source| StoreError::InlineProjection {
                    projection: projection.name(),
                    source,
                })?;
        }
        transaction.commit().await.map_err(map_sqlx)?;
        self.store.wake_subscribers();
        let last = recorded.last().ok_or_else(|| StoreError::Conflict {
            stream_id: stream_id.to_owned(),
            expected: expected_version,
        })?;
        Ok(Receipt {
            stream_id: stream_id.to_owned(),
            stream_version: last.stream_version,
            position: Some(last.position),
        })
    }

    forward_reads_to!(store);
}

forward_event_source!(InlineStore, store);
