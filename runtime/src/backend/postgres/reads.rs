//! The Postgres store as an [`EventStore`]: appends (through `append.rs` or the group
//! committer), stream and log reads, command lookups, snapshots.

use sqlx::Row as _;
use tracing::Instrument;
use uuid::Uuid;

use super::database::{Database, PgQuery};
use super::errors::store_error;
use super::rows::{event_row, stream_row};
use super::store::PostgresStore;
use crate::backend::sql::rows::{clamp_i64, to_u64, SnapshotRow};
use crate::core::error::StoreError;
use crate::core::store::{
    append_span, EventStore, NewEvent, Receipt, RecordedEvent, Snapshot, StreamEvent, StreamSummary,
};
use crate::core::tenant::Tenant;

impl EventStore for PostgresStore {
    fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    fn for_tenant(&self, tenant: Tenant) -> Self {
        Self {
            tenant,
            ..self.clone()
        }
    }

    fn key_store(&self) -> Option<crate::core::pii::keys::SharedKeyStore> {
        Some(std::sync::Arc::new(super::keys::PostgresKeyStore::new(
            self.database.pool.clone(),
            &self.database.sql.schema,
        )))
    }

    async fn append_checked(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        let span = append_span("postgres", stream_id, expected_version, events.len());
        let append = async {
            match &self.group {
                Some(group) => {
                    group
                        .append(&self.tenant, stream_id, expected_version, events)
                        .await
                }
                None => {
                    self.database
                        .append_alone(&self.tenant, stream_id, expected_version, &events)
                        .await
                }
            }
        };
        let receipt = append.instrument(span).await?;
        tracing::debug!(
            stream_id,
            stream_version = receipt.stream_version,
            position = receipt.position,
            "appended"
        );
        Ok(receipt)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read_events(
            &self.database,
            sqlx::query(&self.database.sql.read_stream)
                .bind(stream_id)
                .bind(clamp_i64(after_version))
                .bind(self.tenant.as_str()),
        )
        .await
    }

    async fn read_stream_payloads(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        let rows = self
            .database
            .fetch_all(
                sqlx::query(&self.database.sql.read_stream_payloads)
                    .bind(stream_id)
                    .bind(clamp_i64(after_version))
                    .bind(self.tenant.as_str()),
            )
            .await?;
        rows.iter()
            .map(|row| stream_row(stream_id, row).map_err(store_error)?.into_event())
            .collect()
    }

    async fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let query = if self.tenant.is_none() {
            sqlx::query(&self.database.sql.read_all)
        } else {
            sqlx::query(&self.database.sql.read_tenant)
        };
        let query = query
            .bind(clamp_i64(after_position))
            .bind(clamp_i64(limit as u64));
        let query = if self.tenant.is_none() {
            query
        } else {
            query.bind(self.tenant.as_str())
        };
        read_events(&self.database, query).await
    }

    async fn find_command(&self, command_id: Uuid) -> Result<Option<Receipt>, StoreError> {
        let Some(row) = self
            .database
            .fetch_optional(
                sqlx::query(&self.database.sql.find_command)
                    .bind(command_id)
                    .bind(self.tenant.as_str()),
            )
            .await?
        else {
            return Ok(None);
        };
        let number = |column| -> Result<u64, StoreError> {
            to_u64(
                "chronicle_events",
                column,
                row.try_get(column).map_err(store_error)?,
            )
        };
        Ok(Some(Receipt {
            tenant: self.tenant.as_str().to_owned(),
            stream_id: row.try_get("stream_id").map_err(store_error)?,
            stream_version: number("stream_version")?,
            position: Some(number("position")?),
        }))
    }

    async fn read_by_correlation(&self, correlation_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        read_events(
            &self.database,
            sqlx::query(&self.database.sql.read_by_correlation)
                .bind(correlation_id.to_string())
                .bind((!self.tenant.is_none()).then_some(self.tenant.as_str())),
        )
        .await
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<StreamSummary>, StoreError> {
        let rows = self
            .database
            .fetch_all(
                sqlx::query(&self.database.sql.list_streams)
                    .bind(prefix)
                    .bind(after)
                    .bind(clamp_i64(limit as u64))
                    .bind(self.tenant.as_str()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let version: i64 = row.try_get("version").map_err(store_error)?;
                Ok(StreamSummary {
                    stream_id: row.try_get("stream_id").map_err(store_error)?,
                    version: to_u64("chronicle_events", "stream_version", version)?,
                    last_recorded_at: row.try_get("last_recorded_at").map_err(store_error)?,
                })
            })
            .collect()
    }

    async fn read_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let Some(row) = self
            .database
            .fetch_optional(
                sqlx::query(&self.database.sql.read_snapshot)
                    .bind(stream_id)
                    .bind(self.tenant.as_str()),
            )
            .await?
        else {
            return Ok(None);
        };
        SnapshotRow {
            stream_id: row.try_get("stream_id").map_err(store_error)?,
            aggregate_type: row.try_get("aggregate_type").map_err(store_error)?,
            snapshot_version: i64::from(row.try_get::<i32, _>("snapshot_version").map_err(store_error)?),
            stream_version: row.try_get("stream_version").map_err(store_error)?,
            state: row.try_get("state").map_err(store_error)?,
            taken_at: Ok(row.try_get("taken_at").map_err(store_error)?),
        }
        .into_snapshot()
        .map(Some)
    }

    async fn write_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let out_of_range = |what: &str| StoreError::Corrupt {
            table: "chronicle_snapshots",
            detail: format!("stream `{}`: {what} does not fit the table", snapshot.stream_id),
        };
        let snapshot_version =
            i32::try_from(snapshot.snapshot_version).map_err(|_| out_of_range("snapshot_version"))?;
        let stream_version =
            i64::try_from(snapshot.stream_version).map_err(|_| out_of_range("stream_version"))?;
        self.database
            .execute(
                sqlx::query(&self.database.sql.write_snapshot)
                    .bind(&snapshot.stream_id)
                    .bind(&snapshot.aggregate_type)
                    .bind(snapshot_version)
                    .bind(stream_version)
                    .bind(snapshot.state.get())
                    .bind(snapshot.taken_at)
                    .bind(self.tenant.as_str()),
            )
            .await
    }
}

/// Runs a statement that returns events.
async fn read_events(database: &Database, query: PgQuery<'_>) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = database.fetch_all(query).await?;
    rows.iter()
        .map(|row| event_row(row, 0).map_err(store_error)?.into_recorded())
        .collect()
}
