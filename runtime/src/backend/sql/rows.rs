//! Turning a stored row of `chronicle_events` back into a [`RecordedEvent`].
//!
//! Rows come from outside the program's control (a hand-edited table, a restored backup, another
//! version of Chronicle), so every conversion here is checked and nothing panics on bad data. A
//! row that cannot be an event Chronicle wrote is [`StoreError::Unreadable`], naming its
//! position, stream, type and column.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::core::error::StoreError;
use crate::core::metadata::Metadata;
use crate::core::source::{Checkpoint, UnreadableEvent};
use crate::core::store::{NewEvent, RecordedEvent, Snapshot, StreamEvent};

/// One row of `chronicle_events` as the driver returned it, before any checking. The columns a
/// driver may fail to read as their Rust type on a row that was not written by Chronicle hold
/// what was found instead (as text) in their `Err`.
pub(crate) struct EventRow {
    pub position: i64,
    /// The writing transaction's id (Postgres `xid8` as `bigint`); 0 on SQLite.
    pub transaction_id: i64,
    pub tenant: String,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_id: Result<Uuid, String>,
    pub event_type: String,
    pub event_version: i64,
    pub payload: String,
    pub metadata: String,
    pub recorded_at: Result<DateTime<Utc>, String>,
}

impl EventRow {
    /// Checks the row's numbers and JSON and builds the event.
    pub(crate) fn into_recorded(self) -> Result<RecordedEvent, StoreError> {
        self.check().map_err(|failed| failed.0)
    }

    /// Like [`into_recorded`](Self::into_recorded), and on failure also what a subscriber is told
    /// of the row, so that it can name and skip it.
    pub(crate) fn check(self) -> Result<RecordedEvent, Box<(StoreError, UnreadableEvent)>> {
        let fail = |row: &Self, column, detail| {
            let error = StoreError::Unreadable {
                position: u64::try_from(row.position).unwrap_or(0),
                stream_id: row.stream_id.clone(),
                event_type: row.event_type.clone(),
                column,
                detail,
            };
            let view = row.view(&error);
            Box::new((error, view))
        };
        let Checked {
            position,
            stream_version,
            event_version,
            recorded_at,
        } = match check_columns(
            self.position,
            self.stream_version,
            self.event_version,
            &self.recorded_at,
        ) {
            Ok(checked) => checked,
            Err((column, detail)) => return Err(fail(&self, column, detail)),
        };
        let Ok(transaction_id) = u64::try_from(self.transaction_id) else {
            return Err(fail(&self, "transaction_id", out_of_range(self.transaction_id)));
        };
        let event_id = match &self.event_id {
            Ok(id) => *id,
            Err(text) => {
                return Err(fail(
                    &self,
                    "event_id",
                    format!("holds `{text}`, which is not a UUID"),
                ))
            }
        };
        let metadata: Metadata = match serde_json::from_str(&self.metadata) {
            Ok(metadata) => metadata,
            Err(error) => {
                return Err(fail(
                    &self,
                    "metadata",
                    format!("is not Chronicle's metadata: {error}"),
                ));
            }
        };
        // Checked last, so that the payload moves into the event without a copy.
        let Self {
            tenant,
            stream_id,
            event_type,
            payload,
            ..
        } = self;
        let payload = match RawValue::from_string(payload) {
            Ok(payload) => payload,
            Err(error) => {
                let error = StoreError::Unreadable {
                    position,
                    stream_id: stream_id.clone(),
                    event_type: event_type.clone(),
                    column: "payload",
                    detail: format!("is not JSON: {error}"),
                };
                let view = UnreadableEvent {
                    checkpoint: Checkpoint {
                        transaction_id,
                        position,
                    },
                    stream_id,
                    stream_version,
                    event_type,
                    event_id: Some(event_id),
                    error: error.to_string(),
                };
                return Err(Box::new((error, view)));
            }
        };
        Ok(RecordedEvent {
            position,
            transaction_id,
            tenant,
            stream_id,
            stream_version,
            event_id,
            event_type,
            event_version,
            payload,
            metadata,
            recorded_at,
        })
    }

    /// What a subscriber is told of this row, which failed with `error`.
    fn view(&self, error: &StoreError) -> UnreadableEvent {
        UnreadableEvent {
            checkpoint: Checkpoint {
                transaction_id: u64::try_from(self.transaction_id).unwrap_or(0),
                position: u64::try_from(self.position).unwrap_or(0),
            },
            stream_id: self.stream_id.clone(),
            stream_version: u64::try_from(self.stream_version).unwrap_or(0),
            event_type: self.event_type.clone(),
            event_id: self.event_id.as_ref().ok().copied(),
            error: error.to_string(),
        }
    }
}

/// The columns every event row has, checked ([`check_columns`]).
struct Checked {
    position: u64,
    stream_version: u64,
    event_version: u32,
    recorded_at: DateTime<Utc>,
}

/// Checks the columns every read of events has (whole events and a load's light read): on
/// failure, the column and what it holds.
fn check_columns(
    position: i64,
    stream_version: i64,
    event_version: i64,
    recorded_at: &Result<DateTime<Utc>, String>,
) -> Result<Checked, (&'static str, String)> {
    let position = u64::try_from(position).map_err(|_| ("position", out_of_range(position)))?;
    let stream_version = u64::try_from(stream_version)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ("stream_version", out_of_range(stream_version)))?;
    let event_version =
        u32::try_from(event_version).map_err(|_| ("event_version", out_of_range(event_version)))?;
    let recorded_at = match recorded_at {
        Ok(at) => *at,
        Err(text) => return Err(("recorded_at", format!("holds `{text}`, which is not a time"))),
    };
    Ok(Checked {
        position,
        stream_version,
        event_version,
        recorded_at,
    })
}

fn out_of_range(value: i64) -> String {
    format!("holds {value}, which is out of range")
}

/// The columns of a light stream read ([`StreamEvent`]) as the driver returned them, before any
/// checking, with the stream they were read from; `recorded_at` holds the text found when it is
/// not a time.
pub(crate) struct StreamRow<'a> {
    pub stream_id: &'a str,
    pub position: i64,
    pub stream_version: i64,
    pub event_type: String,
    pub event_version: i64,
    pub payload: String,
    pub recorded_at: Result<DateTime<Utc>, String>,
}

impl StreamRow<'_> {
    /// Checks the row's numbers, time and JSON as [`EventRow::into_recorded`] does.
    pub(crate) fn into_event(self) -> Result<StreamEvent, StoreError> {
        let fail = |row: &Self, column, detail| StoreError::Unreadable {
            position: u64::try_from(row.position).unwrap_or(0),
            stream_id: row.stream_id.to_owned(),
            event_type: row.event_type.clone(),
            column,
            detail,
        };
        let Checked {
            position,
            stream_version,
            event_version,
            recorded_at,
        } = check_columns(
            self.position,
            self.stream_version,
            self.event_version,
            &self.recorded_at,
        )
        .map_err(|(column, detail)| fail(&self, column, detail))?;
        let Self {
            stream_id,
            event_type,
            payload,
            ..
        } = self;
        let payload = RawValue::from_string(payload).map_err(|error| StoreError::Unreadable {
            position,
            stream_id: stream_id.to_owned(),
            event_type: event_type.clone(),
            column: "payload",
            detail: format!("is not JSON: {error}"),
        })?;
        Ok(StreamEvent {
            position,
            stream_version,
            event_type,
            event_version,
            payload,
            recorded_at,
        })
    }
}

/// One row of `chronicle_snapshots` as the driver returned it, before any checking; `taken_at`
/// holds the text found when it is not a time.
pub(crate) struct SnapshotRow {
    pub stream_id: String,
    pub aggregate_type: String,
    pub snapshot_version: i64,
    pub stream_version: i64,
    pub state: String,
    pub taken_at: Result<DateTime<Utc>, String>,
}

impl SnapshotRow {
    /// Checks the row's numbers, JSON and time and builds the snapshot.
    pub(crate) fn into_snapshot(self) -> Result<Snapshot, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "chronicle_snapshots",
            detail: format!("stream `{}`: {detail}", self.stream_id),
        };
        let snapshot_version = u32::try_from(self.snapshot_version).map_err(|_| {
            corrupt(format!(
                "snapshot_version {} is out of range",
                self.snapshot_version
            ))
        })?;
        let stream_version = u64::try_from(self.stream_version)
            .map_err(|_| corrupt(format!("stream_version {} is out of range", self.stream_version)))?;
        let taken_at = match &self.taken_at {
            Ok(at) => *at,
            Err(text) => return Err(corrupt(format!("taken_at `{text}` is not a time"))),
        };
        let state = match serde_json::value::RawValue::from_string(self.state.clone()) {
            Ok(state) => state,
            Err(error) => return Err(corrupt(format!("state is not JSON: {error}"))),
        };
        Ok(Snapshot {
            stream_id: self.stream_id,
            aggregate_type: self.aggregate_type,
            snapshot_version,
            stream_version,
            state,
            taken_at,
        })
    }
}

/// A stored number as `u64`; the columns are signed in SQL, so a negative value means the row was
/// not written by Chronicle.
pub(crate) fn to_u64(table: &'static str, column: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        table,
        detail: format!("column `{column}` holds {value}, which is out of range"),
    })
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
