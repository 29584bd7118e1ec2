//! The SQLite store as an [`EventStore`]: appends (in `store.rs`), stream and log reads, command
//! lookups, snapshots; and reading its rows by column name.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, Sqlite};
use tracing::Instrument;
use uuid::Uuid;

use super::errors::store_error;
use super::store::SqliteStore;
use crate::backend::sql::rows::{clamp_i64, to_u64, EventRow, SnapshotRow, StreamRow};
use crate::core::error::StoreError;
use crate::core::store::{
    append_span, EventStore, NewEvent, Receipt, RecordedEvent, Snapshot, StreamEvent, StreamSummary,
};
use crate::core::tenant::Tenant;

impl EventStore for SqliteStore {
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
        Some(std::sync::Arc::new(super::keys::SqliteKeyStore {
            pool: self.pool.clone(),
        }))
    }

    async fn append_checked(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        let span = append_span("sqlite", stream_id, expected_version, events.len());
        self.append_batch(stream_id, expected_version, &events)
            .instrument(span)
            .await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_events(
            sqlx::query(&self.sql.read_stream)
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
        let rows = sqlx::query(&self.sql.read_stream_payloads)
            .bind(stream_id)
            .bind(clamp_i64(after_version))
            .bind(self.tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| stream_row(stream_id, row)?.into_event())
            .collect()
    }

    async fn read_all(&self, after_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_events(
            sqlx::query(&self.sql.read_all)
                .bind(clamp_i64(after_position))
                .bind(clamp_i64(limit as u64))
                .bind(self.log_tenant()),
        )
        .await
    }

    async fn read_by_correlation(&self, correlation_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_events(
            sqlx::query(&self.sql.read_by_correlation)
                .bind(correlation_id.to_string())
                .bind(self.log_tenant()),
        )
        .await
    }

    async fn list_streams(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<StreamSummary>, StoreError> {
        let rows = sqlx::query(&self.sql.list_streams)
            .bind(prefix)
            .bind(after)
            .bind(clamp_i64(limit as u64))
            .bind(self.tenant.as_str())
            .fetch_all(self.pool())
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                let version: i64 = row.try_get("version").map_err(store_error)?;
                let recorded_at: String = row.try_get("last_recorded_at").map_err(store_error)?;
                let stream_id: String = row.try_get("stream_id").map_err(store_error)?;
                let last_recorded_at = parse_time(&recorded_at).map_err(|text| StoreError::Corrupt {
                    table: "chronicle_events",
                    detail: format!(
                        "stream `{stream_id}`: `recorded_at` holds `{text}`, which is not an RFC 3339 time"
                    ),
                })?;
                Ok(StreamSummary {
                    stream_id,
                    version: to_u64("chronicle_events", "stream_version", version)?,
                    last_recorded_at,
                })
            })
            .collect()
    }

    async fn read_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let Some(row) = sqlx::query(&self.sql.read_snapshot)
            .bind(stream_id)
            .bind(self.tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let taken_at: String = row.try_get("taken_at").map_err(store_error)?;
        SnapshotRow {
            stream_id: row.try_get("stream_id").map_err(store_error)?,
            aggregate_type: row.try_get("aggregate_type").map_err(store_error)?,
            snapshot_version: row.try_get("snapshot_version").map_err(store_error)?,
            stream_version: row.try_get("stream_version").map_err(store_error)?,
            state: row.try_get("state").map_err(store_error)?,
            taken_at: match parse_time(&taken_at) {
                Ok(at) => Ok(at),
                Err(_) => Err(taken_at),
            },
        }
        .into_snapshot()
        .map(Some)
    }

    async fn write_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        sqlx::query(&self.sql.write_snapshot)
            .bind(&snapshot.stream_id)
            .bind(&snapshot.aggregate_type)
            .bind(i64::from(snapshot.snapshot_version))
            .bind(clamp_i64(snapshot.stream_version))
            .bind(snapshot.state.get())
            .bind(snapshot.taken_at.to_rfc3339_opts(SecondsFormat::Micros, true))
            .bind(self.tenant.as_str())
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn find_command(&self, command_id: Uuid) -> Result<Option<Receipt>, StoreError> {
        let Some(row) = sqlx::query(&self.sql.find_command)
            .bind(command_id.to_string())
            .bind(self.tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
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
}

/// The event in a row of the store's `{event}` columns, read by name. The text columns SQLite
/// does not type (the id, the time) are checked by [`EventRow::into_recorded`].
pub(super) fn event_row(row: &SqliteRow) -> Result<EventRow, StoreError> {
    let text = |column| -> Result<String, StoreError> { row.try_get(column).map_err(store_error) };
    let event_id = text("event_id")?;
    let recorded_at = text("recorded_at")?;
    Ok(EventRow {
        position: row.try_get("position").map_err(store_error)?,
        transaction_id: 0,
        tenant: text("tenant")?,
        stream_id: text("stream_id")?,
        stream_version: row.try_get("stream_version").map_err(store_error)?,
        event_id: Uuid::parse_str(&event_id).map_err(|_| event_id),
        event_type: text("event_type")?,
        event_version: row.try_get("event_version").map_err(store_error)?,
        payload: text("payload")?,
        metadata: text("metadata")?,
        recorded_at: match parse_time(&recorded_at) {
            Ok(at) => Ok(at),
            Err(_) => Err(recorded_at),
        },
    })
}

/// A row of the light stream read (`read_stream_payloads` in `events.sql`) of `stream_id`, by
/// index in the statement's column order.
fn stream_row<'a>(stream_id: &'a str, row: &SqliteRow) -> Result<StreamRow<'a>, StoreError> {
    let recorded_at: String = row.try_get(5).map_err(store_error)?;
    Ok(StreamRow {
        stream_id,
        position: row.try_get(0).map_err(store_error)?,
        stream_version: row.try_get(1).map_err(store_error)?,
        event_type: row.try_get(2).map_err(store_error)?,
        event_version: row.try_get(3).map_err(store_error)?,
        payload: row.try_get(4).map_err(store_error)?,
        recorded_at: parse_time(&recorded_at).map_err(str::to_owned),
    })
}

/// A time as SQLite stores it (RFC 3339 text).
pub(super) fn parse_time(value: &str) -> Result<DateTime<Utc>, &str> {
    DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| value)
}

impl SqliteStore {
    /// The tenant a log read is of: the store's, or `None` (every tenant) for a store bound to
    /// none.
    fn log_tenant(&self) -> Option<&str> {
        (!self.tenant.is_none()).then_some(self.tenant.as_str())
    }

    /// Runs a statement of `events.sql` that returns events.
    pub(super) async fn read_events<'q>(
        &self,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
        rows.iter().map(|row| event_row(row)?.into_recorded()).collect()
    }
}
