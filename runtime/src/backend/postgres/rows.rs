//! Reading the Postgres event table's rows, by column index in the statements' order.

use sqlx::postgres::PgRow;
use sqlx::Row as _;

use crate::backend::sql::rows::{EventRow, StreamRow};

/// The event in a row of the store's `{event}` columns (`EVENT_COLUMNS` in `statements.rs`),
/// the first of them at index `first`: read by index, since looking each column up by name was
/// a twentieth of a catch-up's time in the driver (measured with perf).
pub(super) fn event_row(row: &PgRow, first: usize) -> Result<EventRow, sqlx::Error> {
    Ok(EventRow {
        position: row.try_get(first)?,
        tenant: row.try_get(first + 1)?,
        stream_id: row.try_get(first + 2)?,
        stream_version: row.try_get(first + 3)?,
        event_id: Ok(row.try_get(first + 4)?),
        event_type: row.try_get(first + 5)?,
        event_version: i64::from(row.try_get::<i32, _>(first + 6)?),
        payload: row.try_get(first + 7)?,
        metadata: row.try_get(first + 8)?,
        recorded_at: Ok(row.try_get(first + 9)?),
        transaction_id: row.try_get(first + 10)?,
    })
}

/// A row of the light stream read (`read_stream_payloads` in `events.sql`) of `stream_id`, read
/// by index in the statement's column order.
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
