//! Appending to the Postgres event store: one statement per command (or per group of commands),
//! in a transaction with the inline projections' handlers when there are any.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Connection as _, Row as _};
use uuid::Uuid;

use super::database::Database;
use super::errors::{store_error, violated_unique};
use crate::backend::sql::rows::{guess_duplicate, metadata_json, to_u64};
use crate::core::error::{HandlerError, StoreError};
use crate::core::store::{NewEvent, Receipt, RecordedEvent};
use crate::core::tenant::Tenant;

/// The unique constraints of the event table, named in its migration so that a violation is
/// told apart by name: a stream version taken means a concurrent writer won the race; an event id
/// taken means the command was appended before.
const STREAM_VERSION_KEY: &str = "chronicle_events_stream_version_key";
const EVENT_ID_KEY: &str = "chronicle_events_event_id_key";

/// One command's append: its tenant and stream, the version it decided on, its events (at least
/// one).
pub(super) struct Command<'a> {
    pub(super) tenant: &'a str,
    pub(super) stream_id: &'a str,
    pub(super) expected: u64,
    pub(super) events: &'a [NewEvent],
}

/// What the database assigned to one appended event.
pub(super) struct Inserted {
    pub(super) tenant: String,
    pub(super) stream_id: String,
    pub(super) position: u64,
    pub(super) stream_version: u64,
    pub(super) transaction_id: u64,
    pub(super) recorded_at: DateTime<Utc>,
}

/// Why a write stored nothing.
pub(super) enum WriteFailure {
    /// The statement (or the connection) failed.
    Store(StoreError),
    /// An inline projection's handler failed; the transaction was rolled back.
    Inline {
        projection: &'static str,
        source: HandlerError,
    },
}

impl From<StoreError> for WriteFailure {
    fn from(error: StoreError) -> Self {
        WriteFailure::Store(error)
    }
}

impl From<WriteFailure> for StoreError {
    fn from(failure: WriteFailure) -> Self {
        match failure {
            WriteFailure::Store(error) => error,
            WriteFailure::Inline { projection, source } => {
                StoreError::InlineProjection { projection, source }
            }
        }
    }
}

impl Database {
    /// Appends one command on its own (no group commit): one statement, or one transaction with
    /// the inline projections.
    pub(super) async fn append_alone(
        &self,
        tenant: &Tenant,
        stream_id: &str,
        expected: u64,
        events: &[NewEvent],
    ) -> Result<Receipt, StoreError> {
        let command = Command {
            tenant: tenant.as_str(),
            stream_id,
            expected,
            events,
        };
        let inserted = self.write(std::slice::from_ref(&command)).await?;
        receipt(&command, &inserted)
    }

    /// Writes the events of `commands` (on distinct streams of their tenants) with one statement, and applies the
    /// inline projections to what was written in the same transaction. A command whose stream
    /// moved writes nothing, without failing the others.
    pub(super) async fn write(&self, commands: &[Command<'_>]) -> Result<Vec<Inserted>, WriteFailure> {
        let mut connection = self.direct.acquire().await?;
        let outcome = if self.inline.is_empty() {
            self.insert(connection.get(), commands).await.map(Ok)
        } else {
            self.insert_with_inline(connection.get(), commands).await
        };
        connection.settle(&outcome);
        match outcome {
            Ok(Ok(inserted)) => {
                if !inserted.is_empty() {
                    self.wake_subscribers();
                }
                Ok(inserted)
            }
            Ok(Err(failure)) => Err(failure),
            Err(error) => Err(self.append_error(error, commands).await.into()),
        }
    }

    /// The append statement in `connection`.
    async fn insert(
        &self,
        connection: &mut PgConnection,
        commands: &[Command<'_>],
    ) -> Result<Vec<Inserted>, sqlx::Error> {
        let rows = match commands {
            // Most commands record one event: the scalar statement (see `events.sql`).
            [Command {
                tenant,
                stream_id,
                expected,
                events: [event],
            }] => {
                let Ok(expected) = i64::try_from(*expected) else {
                    // A version beyond bigint cannot be the stream's current one.
                    return Ok(Vec::new());
                };
                sqlx::query(&self.sql.append_one)
                    .bind(*stream_id)
                    .bind(expected)
                    .bind(event.metadata.command_id)
                    .bind(event.event_id)
                    .bind(event.event_type)
                    .bind(event_version(event)?)
                    .bind(event.payload.get())
                    .bind(metadata(event)?)
                    .bind(*tenant)
                    .fetch_all(&mut *connection)
                    .await?
            }
            _ => {
                let columns = AppendColumns::of(commands)?;
                sqlx::query(&self.sql.append_many)
                    .bind(&columns.stream_ids)
                    .bind(&columns.expected)
                    .bind(&columns.ordinals)
                    .bind(&columns.command_ids)
                    .bind(&columns.event_ids)
                    .bind(&columns.event_types)
                    .bind(&columns.event_versions)
                    .bind(&columns.payloads)
                    .bind(&columns.metadata)
                    .bind(&columns.tenants)
                    .fetch_all(&mut *connection)
                    .await?
            }
        };
        rows.iter().map(inserted).collect()
    }

    /// The append statement and the inline projections' handlers, in one transaction. The outer
    /// error is the driver's; the inner one a handler's, after the transaction was rolled back.
    async fn insert_with_inline(
        &self,
        connection: &mut PgConnection,
        commands: &[Command<'_>],
    ) -> Result<Result<Vec<Inserted>, WriteFailure>, sqlx::Error> {
        let mut tx = connection.begin().await?;
        sqlx::query(&self.sql.inline_transaction)
            .execute(&mut *tx)
            .await?;
        let inserted = self.insert(&mut tx, commands).await?;
        let mut recorded = recorded(commands, &inserted);
        if let Err(error) = super::keys::reveal_on(&mut tx, &self.sql.subject_keys, &mut recorded).await {
            tx.rollback().await?;
            return Ok(Err(WriteFailure::Store(error)));
        }
        if let Err((projection, source)) = self.inline.apply(&recorded, &mut tx).await {
            tx.rollback().await?;
            return Ok(Err(WriteFailure::Inline { projection, source }));
        }
        tx.commit().await?;
        Ok(Ok(inserted))
    }

    /// Sorts a failed append: a taken stream version is a conflict, a taken event id a
    /// duplicate (which one is asked of the table), anything else the driver's error.
    async fn append_error(&self, error: sqlx::Error, commands: &[Command<'_>]) -> StoreError {
        match violated_unique(&error) {
            Some(STREAM_VERSION_KEY) => match commands {
                [command] => conflict(command),
                _ => store_error(error),
            },
            Some(EVENT_ID_KEY) => {
                let events: Vec<NewEvent> = commands.iter().flat_map(|c| c.events.iter().cloned()).collect();
                StoreError::DuplicateEvent {
                    event_id: self.stored_event_id(&events).await,
                }
            }
            _ => store_error(error),
        }
    }

    /// The first of `events` whose id is stored already (the one a duplicate-key error was
    /// about), or a guess when the table cannot be asked.
    async fn stored_event_id(&self, events: &[NewEvent]) -> Uuid {
        let ids: Vec<Uuid> = events.iter().map(|event| event.event_id).collect();
        let stored: Vec<Uuid> = match self
            .fetch_all(sqlx::query(&self.sql.stored_event_ids).bind(&ids))
            .await
        {
            Ok(rows) => rows
                .iter()
                .filter_map(|row| row.try_get("event_id").ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        ids.into_iter()
            .find(|id| stored.contains(id))
            .unwrap_or_else(|| guess_duplicate(events))
    }
}

/// The receipt of `command` from what was inserted: a conflict when its stream had moved.
pub(super) fn receipt(command: &Command<'_>, inserted: &[Inserted]) -> Result<Receipt, StoreError> {
    let last = inserted
        .iter()
        .filter(|row| row.tenant == command.tenant && row.stream_id == command.stream_id)
        .max_by_key(|row| row.stream_version)
        .ok_or_else(|| conflict(command))?;
    Ok(Receipt {
        tenant: command.tenant.to_owned(),
        stream_id: command.stream_id.to_owned(),
        stream_version: last.stream_version,
        position: Some(last.position),
    })
}

fn conflict(command: &Command<'_>) -> StoreError {
    StoreError::Conflict {
        stream_id: command.stream_id.to_owned(),
        expected: command.expected,
    }
}

/// The events as stored, in the order of `commands`, for the inline projections: each inserted
/// row is matched to its event by tenant, stream and version (the version is the command's
/// expected one plus the event's place in it).
fn recorded(commands: &[Command<'_>], inserted: &[Inserted]) -> Vec<RecordedEvent> {
    let by_stream: HashMap<(&str, &str), &Command<'_>> =
        commands.iter().map(|c| ((c.tenant, c.stream_id), c)).collect();
    let mut recorded: Vec<RecordedEvent> = inserted
        .iter()
        .filter_map(|row| {
            let command = by_stream.get(&(row.tenant.as_str(), row.stream_id.as_str()))?;
            let index =
                usize::try_from(row.stream_version.checked_sub(command.expected)?.checked_sub(1)?).ok()?;
            let event = command.events.get(index)?;
            Some(RecordedEvent {
                position: row.position,
                transaction_id: row.transaction_id,
                tenant: row.tenant.clone(),
                stream_id: row.stream_id.clone(),
                stream_version: row.stream_version,
                event_id: event.event_id,
                event_type: event.event_type.to_owned(),
                event_version: event.event_version,
                payload: event.payload.clone(),
                metadata: event.metadata.clone(),
                recorded_at: row.recorded_at,
            })
        })
        .collect();
    recorded.sort_by_key(|event| event.position);
    recorded
}

fn inserted(row: &PgRow) -> Result<Inserted, sqlx::Error> {
    let number = |column: &'static str| -> Result<u64, sqlx::Error> {
        let value: i64 = row.try_get(column)?;
        to_u64("chronicle_events", column, value).map_err(|error| sqlx::Error::Decode(Box::new(error)))
    };
    Ok(Inserted {
        tenant: row.try_get("tenant")?,
        stream_id: row.try_get("stream_id")?,
        position: number("position")?,
        stream_version: number("stream_version")?,
        transaction_id: number("transaction_id")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}

/// An event's version as the table's `int`.
fn event_version(event: &NewEvent) -> Result<i32, sqlx::Error> {
    i32::try_from(event.event_version).map_err(|_| {
        sqlx::Error::Encode(
            format!(
                "event `{}` has version {}, beyond what the table holds",
                event.event_type, event.event_version
            )
            .into(),
        )
    })
}

fn metadata(event: &NewEvent) -> Result<String, sqlx::Error> {
    metadata_json(event).map_err(|error| sqlx::Error::Encode(Box::new(error)))
}

/// The columns of `append_many`: one entry per event, of every command.
struct AppendColumns<'a> {
    stream_ids: Vec<&'a str>,
    expected: Vec<i64>,
    ordinals: Vec<i64>,
    command_ids: Vec<Uuid>,
    event_ids: Vec<Uuid>,
    event_types: Vec<&'static str>,
    event_versions: Vec<i32>,
    payloads: Vec<&'a str>,
    metadata: Vec<String>,
    tenants: Vec<&'a str>,
}

impl<'a> AppendColumns<'a> {
    fn of(commands: &'a [Command<'a>]) -> Result<Self, sqlx::Error> {
        let total = commands.iter().map(|c| c.events.len()).sum();
        let mut columns = Self {
            stream_ids: Vec::with_capacity(total),
            expected: Vec::with_capacity(total),
            ordinals: Vec::with_capacity(total),
            command_ids: Vec::with_capacity(total),
            event_ids: Vec::with_capacity(total),
            event_types: Vec::with_capacity(total),
            event_versions: Vec::with_capacity(total),
            payloads: Vec::with_capacity(total),
            metadata: Vec::with_capacity(total),
            tenants: Vec::with_capacity(total),
        };
        for command in commands {
            // A version beyond bigint cannot be a stream's current one: the guard fails it.
            let expected = i64::try_from(command.expected).unwrap_or(-1);
            for (ordinal, event) in (1_i64..).zip(command.events) {
                columns.stream_ids.push(command.stream_id);
                columns.expected.push(expected);
                columns.ordinals.push(ordinal);
                columns.command_ids.push(event.metadata.command_id);
                columns.event_ids.push(event.event_id);
                columns.event_types.push(event.event_type);
                columns.event_versions.push(event_version(event)?);
                columns.payloads.push(event.payload.get());
                columns.metadata.push(metadata(event)?);
                columns.tenants.push(command.tenant);
            }
        }
        Ok(columns)
    }
}
