//! The Postgres store as an [`EventStore`]: appends (through `append.rs` or the group
//! committer), stream and log reads, command lookups, snapshots; and the statements it runs on
//! its own connections.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::Row as _;
use tracing::Instrument;
use uuid::Uuid;

use super::errors::store_error;
use super::store::PostgresStore;
use crate::backend::sql::rows::{clamp_i64, to_u64, EventRow};
use crate::core::error::StoreError;
use crate::core::store::{EventStore, NewEvent, Receipt, RecordedEvent, Snapshot};

/// A statement with its arguments bound.
pub(super) type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, PgArguments>;

impl EventStore for PostgresStore {
    async fn append_checked(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        let span = tracing::debug_span!(
            "chronicle.append",
            store = "postgres",
            stream_id,
            expected_version,
            count = events.len()
        );
        let append = async {
            match &self.group {
                Some(group) => group.append(stream_id, expected_version, events).await,
                None => self.append_alone(stream_id, expected_version, &events).await,
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
        self.read_events(
            sqlx::query(&self.sql.read_stream)
                .bind(stream_id)
                .bind(clamp_i64(after_version)),
        )
        .await
    }

    async fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_events(
            sqlx::query(&self.sql.read_all)
                .bind(clamp_i64(after_position))
                .bind(clamp_i64(limit as u64)),
        )
        .await
    }

    async fn find_command(&self, command_id: Uuid) -> Result<Option<Receipt>, StoreError> {
        let Some(row) = self
            .fetch_optional(sqlx::query(&self.sql.find_command).bind(command_id))
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
            stream_id: row.try_get("stream_id").map_err(store_error)?,
            stream_version: number("stream_version")?,
            position: Some(number("position")?),
        }))
    }

    async fn read_by_correlation(&self, correlation_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_events(sqlx::query(&self.sql.read_by_correlation).bind(correlation_id.to_string()))
            .await
    }

    async fn read_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let Some(row) = self
            .fetch_optional(sqlx::query(&self.sql.read_snapshot).bind(stream_id))
            .await?
        else {
            return Ok(None);
        };
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "chronicle_snapshots",
            detail: format!("stream `{stream_id}`: {detail}"),
        };
        let snapshot_version: i32 = row.try_get("snapshot_version").map_err(store_error)?;
        let stream_version: i64 = row.try_get("stream_version").map_err(store_error)?;
        let state: String = row.try_get("state").map_err(store_error)?;
        Ok(Some(Snapshot {
            stream_id: row.try_get("stream_id").map_err(store_error)?,
            aggregate_type: row.try_get("aggregate_type").map_err(store_error)?,
            snapshot_version: u32::try_from(snapshot_version)
                .map_err(|_| corrupt(format!("snapshot_version {snapshot_version} is out of range")))?,
            stream_version: u64::try_from(stream_version)
                .map_err(|_| corrupt(format!("stream_version {stream_version} is out of range")))?,
            state: serde_json::value::RawValue::from_string(state)
                .map_err(|error| corrupt(format!("state is not JSON: {error}")))?,
            taken_at: row.try_get("taken_at").map_err(store_error)?,
        }))
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
        self.execute(
            sqlx::query(&self.sql.write_snapshot)
                .bind(&snapshot.stream_id)
                .bind(&snapshot.aggregate_type)
                .bind(snapshot_version)
                .bind(stream_version)
                .bind(snapshot.state.get())
                .bind(snapshot.taken_at),
        )
        .await
    }
}

impl PostgresStore {
    async fn read_events(&self, query: PgQuery<'_>) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = self.fetch_all(query).await?;
        rows.iter()
            .map(|row| event_row(row).map_err(store_error)?.into_recorded())
            .collect()
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
    async fn execute(&self, query: PgQuery<'_>) -> Result<(), StoreError> {
        let mut connection = self.direct.acquire().await?;
        let outcome = query.execute(connection.get()).await;
        connection.settle(&outcome);
        outcome.map(drop).map_err(store_error)
    }
}

/// The event in a row of the store's `{event}` columns, read by name.
pub(super) fn event_row(row: &PgRow) -> Result<EventRow, sqlx::Error> {
    Ok(EventRow {
        position: row.try_get("position")?,
        transaction_id: row.try_get("transaction_id")?,
        stream_id: row.try_get("stream_id")?,
        stream_version: row.try_get("stream_version")?,
        event_id: Ok(row.try_get("event_id")?),
        event_type: row.try_get("event_type")?,
        event_version: i64::from(row.try_get::<i32, _>("event_version")?),
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        recorded_at: Ok(row.try_get("recorded_at")?),
    })
}
