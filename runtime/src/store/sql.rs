//! What the SQL stores share: turning a stored row back into a [`RecordedEvent`], and sorting
//! driver errors into "the database is unreachable" and "the database said no".
//!
//! Rows come from outside the program's control (a hand-edited table, a restored backup, another
//! version of Chronicle), so every conversion here is checked and nothing panics on bad data.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{NewEvent, RecordedEvent};
use crate::error::StoreError;
use crate::metadata::Metadata;

/// One row of `chronicle_events` as the driver returned it, before any checking.
pub(crate) struct EventRow {
    pub position: i64,
    /// The writing transaction's id (Postgres `xid8` as `bigint`); 0 on SQLite.
    pub transaction_id: i64,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub event_version: i64,
    pub payload: String,
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
}

impl EventRow {
    /// Checks the row's numbers and JSON and builds the event.
    pub(crate) fn into_recorded(self) -> Result<RecordedEvent, StoreError> {
        let position = to_u64("position", self.position)?;
        let transaction_id = to_u64("transaction_id", self.transaction_id)?;
        let stream_version = to_u64("stream_version", self.stream_version)?;
        let event_version = u32::try_from(self.event_version)
            .map_err(|_| corrupt(CorruptRow::OutOfRange("event_version", self.event_version)))?;
        let undecodable = |source| StoreError::Undecodable {
            stream_id: self.stream_id.clone(),
            stream_version,
            event_type: self.event_type.clone(),
            event_version,
            source,
        };
        let metadata: Metadata = serde_json::from_str(&self.metadata).map_err(undecodable)?;
        let payload = RawValue::from_string(self.payload).map_err(undecodable)?;
        Ok(RecordedEvent {
            position,
            transaction_id,
            stream_id: self.stream_id,
            stream_version,
            event_id: self.event_id,
            event_type: self.event_type,
            event_version,
            payload,
            metadata,
            recorded_at: self.recorded_at,
        })
    }
}

/// A stored number as `u64`; the columns are signed in SQL, so a negative value means the row was
/// not written by Chronicle.
pub(crate) fn to_u64(column: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(CorruptRow::OutOfRange(column, value)))
}

/// A query bound as SQL `bigint`. Versions and positions above `i64::MAX` cannot be stored, so
/// clamping keeps "after X" queries correct (nothing is above them) instead of failing.
pub(crate) fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The metadata column's JSON text.
pub(crate) fn metadata_json(event: &NewEvent) -> Result<String, StoreError> {
    serde_json::to_string(&event.metadata).map_err(|source| StoreError::Encode {
        event_type: event.event_type,
        source,
    })
}

/// The id to report when the database refused a batch for a duplicate event id without saying
/// which: an id repeated inside the batch itself, else the first one.
pub(crate) fn guess_duplicate(events: &[NewEvent]) -> Uuid {
    events
        .iter()
        .enumerate()
        .find(|(i, e)| events[..*i].iter().any(|prev| prev.event_id == e.event_id))
        .map(|(_, e)| e)
        .or(events.first())
        .map_or(Uuid::nil(), |e| e.event_id)
}

/// A value that does not fit between its column and its Rust type: in a row read, one that
/// Chronicle could not have written.
#[derive(Debug)]
pub(crate) enum CorruptRow {
    /// A number outside what the Rust type can hold.
    OutOfRange(&'static str, i64),
    /// A text column that should hold something else (Postgres types its columns itself).
    #[cfg(feature = "sqlite")]
    Malformed(&'static str, String),
}

impl fmt::Display for CorruptRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange(column, value) => {
                write!(f, "column `{column}` holds {value}, which is out of range")
            }
            #[cfg(feature = "sqlite")]
            Self::Malformed(column, value) => write!(f, "column `{column}` holds malformed `{value}`"),
        }
    }
}

impl std::error::Error for CorruptRow {}

pub(crate) fn corrupt(e: CorruptRow) -> StoreError {
    StoreError::Database(Box::new(e))
}

/// Sorts a driver error: failures to reach the database are [`StoreError::Unavailable`] (worth
/// retrying later), everything else [`StoreError::Database`]. `db_unavailable` recognises the
/// backend's own error codes for "cannot serve you now".
pub(crate) fn map_sqlx_with(
    e: sqlx::Error,
    db_unavailable: fn(&dyn sqlx::error::DatabaseError) -> bool,
) -> StoreError {
    let unavailable = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db_unavailable(db.as_ref()),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Database(Box::new(e))
    }
}
