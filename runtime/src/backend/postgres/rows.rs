//! Reading the Postgres event table's rows, by column name.

use sqlx::postgres::PgRow;
use sqlx::Row as _;

use crate::backend::sql::rows::{EventRow, StreamRow};

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

/// A row of the light stream read (`read_stream_payloads` in `events.sql`) of `stream_id`, read
/// by index in the statement's column order: the names' lookups were a tenth of a load's time.
pub(super) fn stream_row<'a>(stream_id: &'a str, row: &PgRow) -> Result<StreamRow<'a>, sqlx::Error> {
    Ok(StreamRow {
        stream_id,
        position: row.try_get(0)?,
        stream_version: row.try_get(1)?,
        event_type: row.try_get(2)?,
        event_version: i64::from(row.try_get::<i32, _>(3)?),
        payload: row.try_get(4)?,
        recorded_at: Ok(row.try_get(5)?),
    })
}
