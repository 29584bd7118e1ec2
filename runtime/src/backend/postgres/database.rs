//! What a Postgres store runs its statements on: the pool, the statements of its schema, the
//! connections it keeps itself, the wake-ups it sends after appends, and its inline projections.
//! Shared by the store and its group committer.

use std::sync::Arc;

use sqlx::postgres::{PgArguments, PgPool, PgRow};

use super::connections::DirectConnections;
use super::errors::store_error;
use super::inline::InlineProjections;
use super::statements::{PartitionStatements, Statements};
use super::wake_up::WakeUps;
use crate::core::error::StoreError;

/// A statement with its arguments bound.
pub(super) type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, PgArguments>;

/// The parts of a store that run statements. Cheap to clone.
#[derive(Clone)]
pub(super) struct Database {
    pub(super) pool: PgPool,
    pub(super) sql: Arc<Statements>,
    pub(super) direct: Arc<DirectConnections>,
    pub(super) wake_ups: Arc<WakeUps>,
    pub(super) inline: InlineProjections,
    /// The partitioned reads' statements, per partition count, built on first use.
    pub(super) partitions: Arc<std::sync::Mutex<std::collections::HashMap<u32, Arc<PartitionStatements>>>>,
}

impl Database {
    pub(super) fn new(pool: PgPool, schema: &str) -> Self {
        let direct = Arc::new(DirectConnections::of_pool(&pool));
        Self::with_connections(pool, schema, direct, InlineProjections::default())
    }

    /// The same database, for another schema: the same pool and connections, the other schema's
    /// statements and notification channel.
    pub(super) fn in_schema(self, schema: &str) -> Self {
        Self::with_connections(self.pool, schema, self.direct, self.inline)
    }

    fn with_connections(
        pool: PgPool,
        schema: &str,
        direct: Arc<DirectConnections>,
        inline: InlineProjections,
    ) -> Self {
        let sql = Statements::new(schema);
        Self {
            wake_ups: Arc::new(WakeUps::new(
                sql.channel.clone(),
                (*pool.connect_options()).clone(),
            )),
            sql: Arc::new(sql),
            direct,
            inline,
            pool,
            partitions: Arc::default(),
        }
    }

    /// The statements of partitioned reads into `count` partitions.
    pub(super) fn partition_statements(&self, count: u32) -> Arc<PartitionStatements> {
        let mut built = self
            .partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        built
            .entry(count)
            .or_insert_with(|| Arc::new(PartitionStatements::new(&self.sql.schema, count)))
            .clone()
    }

    /// Wakes the schema's subscribers after an append has committed.
    pub(super) fn wake_subscribers(&self) {
        self.wake_ups.signal();
    }

    /// Runs a statement on one of the store's own connections; all its rows.
    pub(super) async fn fetch_all(&self, query: PgQuery<'_>) -> Result<Vec<PgRow>, StoreError> {
        let mut connection = self.direct.acquire().await?;
        let outcome = query.fetch_all(connection.get()).await;
        connection.settle(&outcome);
        outcome.map_err(store_error)
    }

    /// Runs a statement on one of the store's own connections; its first row, if any.
    pub(super) async fn fetch_optional(&self, query: PgQuery<'_>) -> Result<Option<PgRow>, StoreError> {
        let mut connection = self.direct.acquire().await?;
        let outcome = query.fetch_optional(connection.get()).await;
        connection.settle(&outcome);
        outcome.map_err(store_error)
    }

    /// Runs a statement that always returns a row on one of the store's own connections.
    pub(super) async fn fetch_one(&self, query: PgQuery<'_>) -> Result<PgRow, StoreError> {
        self.fetch_optional(query)
            .await?
            .ok_or_else(|| store_error(sqlx::Error::RowNotFound))
    }

    /// Runs a statement without rows on one of the store's own connections.
    pub(super) async fn execute(&self, query: PgQuery<'_>) -> Result<(), StoreError> {
        let mut connection = self.direct.acquire().await?;
        let outcome = query.execute(connection.get()).await;
        connection.settle(&outcome);
        outcome.map(drop).map_err(store_error)
    }
}
