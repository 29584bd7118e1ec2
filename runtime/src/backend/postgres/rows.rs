//! Reading the Postgres event table's rows, by column name.

use sqlx::postgres::PgRow;
use sqlx::Row as _;

use crate::backend::sql::rows::EventRow;

/// The event in a row of the store's `{event}` columns, read by name.
pub(super) fn event_row(row: &PgRow) -> Result<EventRow, sqlx::Error> {
    Ok(EventRow {
        position: row.try_get("position")?,
        transaction_id: row.try_get("transaction_id")?,
        tenant: row.try_get("tenant")?,
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
