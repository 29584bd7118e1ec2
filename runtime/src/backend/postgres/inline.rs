//! Inline projections: read models updated in the same Postgres transaction as the append, for
//! views that must never be stale, and prepared once by `migrate`.
//!
//! Their handlers run with the store's schema as the whole `search_path`, so an unqualified
//! table name always means the store's own table and never a same-named one in another schema.
//! Appends that apply them take a shared advisory lock, and `migrate` an exclusive one while it
//! prepares a read model (its `#[reset]`, then every stored event of its types), so that no
//! append lands between the preparation's read of the log and its commit.

use std::sync::Arc;

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Connection as _, Row as _};

use super::errors::store_error;
use super::rows::event_row;
use super::statements::Statements;
use crate::core::error::{HandlerError, StoreError};
use crate::core::future::BoxFuture;
use crate::core::projection::Projection;
use crate::core::read_store::ReadStore;
use crate::core::store::RecordedEvent;

/// Events read per statement while preparing an inline read model.
const PREPARE_PAGE: i64 = 1000;

/// A projection whose read model lives in the event store's own Postgres database and schema.
pub(super) trait InlineProjection: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    fn version(&self) -> u32;

    fn event_types(&self) -> &'static [&'static str];

    /// Applies those of `events` it handles, in order.
    fn apply_all<'a>(
        &'a self,
        events: &'a [RecordedEvent],
        transaction: &'a mut PgConnection,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;

    /// Its `#[reset]` method, if it has one.
    fn reset<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
    ) -> Option<BoxFuture<'a, Result<(), HandlerError>>>;
}

impl<P> InlineProjection for P
where
    P: Projection,
    P::Store: ReadStore<Connection = PgConnection>,
{
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn version(&self) -> u32 {
        P::VERSION
    }

    fn event_types(&self) -> &'static [&'static str] {
        P::EVENT_TYPES
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

    fn reset<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
    ) -> Option<BoxFuture<'a, Result<(), HandlerError>>> {
        P::HAS_RESET.then(|| Projection::reset(self, transaction))
    }
}

/// The inline projections of a store, in the order they were added.
#[derive(Clone, Default)]
pub(super) struct InlineProjections(Arc<[Arc<dyn InlineProjection>]>);

impl InlineProjections {
    pub(super) fn with(&self, projection: Arc<dyn InlineProjection>) -> Self {
        let mut all: Vec<_> = self.0.iter().cloned().collect();
        all.push(projection);
        Self(all.into())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|projection| projection.name()).collect()
    }

    /// Applies every inline projection to `events`, in `transaction`; the first failure names
    /// its projection.
    pub(super) async fn apply(
        &self,
        events: &[RecordedEvent],
        transaction: &mut PgConnection,
    ) -> Result<(), (&'static str, HandlerError)> {
        for projection in self.0.iter() {
            projection
                .apply_all(events, transaction)
                .await
                .map_err(|error| (projection.name(), error))?;
        }
        Ok(())
    }

    /// Prepares the read model of each inline projection not yet prepared at its version: its
    /// `#[reset]` method, then every stored event of its types, in one transaction holding the
    /// exclusive inline lock. A projection prepared at another version and without a `#[reset]`
    /// method cannot be prepared again: that is an error naming it.
    pub(super) async fn prepare(&self, pool: &PgPool, sql: &Statements) -> Result<(), StoreError> {
        for projection in self.0.iter() {
            let mut connection = pool.acquire().await.map_err(store_error)?;
            prepare_one(sql, projection.as_ref(), &mut connection).await?;
        }
        Ok(())
    }
}

async fn prepare_one(
    sql: &Statements,
    projection: &dyn InlineProjection,
    connection: &mut PgConnection,
) -> Result<(), StoreError> {
    let failed = |source: HandlerError| StoreError::InlineProjection {
        projection: projection.name(),
        source,
    };
    let mut tx = connection.begin().await.map_err(store_error)?;
    sqlx::query(&sql.inline_prepare)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    let prepared: Option<i32> = sqlx::query(&sql.inline_prepared_version)
        .bind(projection.name())
        .fetch_optional(&mut *tx)
        .await
        .and_then(|row| row.map(|row| row.try_get("version")).transpose())
        .map_err(store_error)?;
    let version = i32::try_from(projection.version()).unwrap_or(i32::MAX);
    if prepared == Some(version) {
        return Ok(());
    }
    match projection.reset(&mut tx) {
        Some(reset) => reset.await.map_err(failed)?,
        None if prepared.is_some() => {
            return Err(failed(HandlerError::new(format!(
                "its read model was prepared at version {} and it is now version {}, but it has no \
                 `#[reset]` method to empty it: add one, or rebuild the read model yourself",
                prepared.unwrap_or_default(),
                projection.version()
            ))));
        }
        None => {}
    }
    let mut after = 0_i64;
    loop {
        let rows = sqlx::query(&sql.inline_replay)
            .bind(after)
            .bind(projection.event_types())
            .bind(PREPARE_PAGE)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
        let mut events = rows
            .iter()
            .map(|row| event_row(row, 0).map_err(store_error)?.into_recorded())
            .collect::<Result<Vec<_>, StoreError>>()?;
        super::keys::reveal_on(&mut tx, &sql.subject_keys, &mut events).await?;
        let Some(last) = events.last() else { break };
        after = i64::try_from(last.position).unwrap_or(i64::MAX);
        projection.apply_all(&events, &mut tx).await.map_err(failed)?;
        if events.len() < PREPARE_PAGE as usize {
            break;
        }
    }
    sqlx::query(&sql.inline_mark_prepared)
        .bind(projection.name())
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    tracing::info!(projection = projection.name(), "inline read model prepared");
    Ok(())
}
