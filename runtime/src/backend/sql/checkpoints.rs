//! The checkpoint and dead-letter tables of the SQL read stores: the same columns, the same
//! steps, one implementation.
//!
//! Each SQL read store keeps its statements in a [`CheckpointStatements`] (from its `.sql` file)
//! and gets the [`ReadStore`](crate::ReadStore) methods for these tables from
//! [`checkpoint_methods!`] inside its impl. The statements are written so that every backend
//! binds and reads the same Rust types: `bigint` numbers, UUIDs as text, lists as JSON text.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::core::read_store::{CheckpointRow, DeadLetter, ReadStoreError};
use crate::core::source::Checkpoint;

/// The statements of a SQL read store's checkpoint and dead-letter tables.
#[derive(Debug)]
pub(crate) struct CheckpointStatements {
    /// `(projection) -> version, transaction_id, position`
    pub load: String,
    /// `() -> projection, version, transaction_id, position` of every row, by projection.
    pub list: String,
    /// `(projection, version, transaction_id, position)`, doing nothing if a row exists.
    pub insert: String,
    /// `(projection, version, transaction_id, position, old version, old transaction_id, old
    /// position)`, only where the old values still hold.
    pub update: String,
    /// `(projection, version, position, transaction_id, event_id text, stream_id, stream_version,
    /// event_type, error, recorded_at)`, replacing the same event's record by the same version.
    pub record_dead_letter: String,
    /// `(projection, positions as a JSON array)`
    pub delete_dead_letters_at: String,
    /// `(projection, version)`: every version's but that one.
    pub delete_dead_letters_not_of: String,
    /// `(projection, version) -> the columns of DeadLetter`, in subscription order.
    pub dead_letters: String,
    /// `(projection, version, position, requested_at)`: marks one letter for a retry.
    pub request_retry: String,
}

/// A checkpoint row read back; `columns` are `version`, `transaction_id`, `position`.
pub(crate) fn checkpoint_row(
    projection: &str,
    version: i64,
    transaction_id: i64,
    position: i64,
) -> Result<CheckpointRow, ReadStoreError> {
    let corrupt = |column: &str, value: i64| ReadStoreError::Corrupt {
        table: "chronicle_checkpoints",
        detail: format!("projection `{projection}`: column `{column}` holds {value}, which is out of range"),
    };
    Ok(CheckpointRow {
        version: u32::try_from(version).map_err(|_| corrupt("version", version))?,
        checkpoint: Checkpoint {
            transaction_id: u64::try_from(transaction_id)
                .map_err(|_| corrupt("transaction_id", transaction_id))?,
            position: u64::try_from(position).map_err(|_| corrupt("position", position))?,
        },
    })
}

/// A checkpoint as the SQL `bigint` pair `(transaction_id, position)`.
pub(crate) fn checkpoint_columns(checkpoint: Checkpoint) -> Result<(i64, i64), ReadStoreError> {
    let out_of_range = || ReadStoreError::OutOfRange { checkpoint };
    Ok((
        i64::try_from(checkpoint.transaction_id).map_err(|_| out_of_range())?,
        i64::try_from(checkpoint.position).map_err(|_| out_of_range())?,
    ))
}

/// The columns of a dead letter as read back.
pub(crate) struct DeadLetterRow {
    pub projection: String,
    pub version: i64,
    pub position: i64,
    pub transaction_id: i64,
    pub event_id: Option<String>,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_type: String,
    pub error: String,
    pub recorded_at: DateTime<Utc>,
    pub retry_requested_at: Option<DateTime<Utc>>,
}

impl DeadLetterRow {
    pub(crate) fn into_dead_letter(self) -> Result<DeadLetter, ReadStoreError> {
        let corrupt = |detail: String| ReadStoreError::Corrupt {
            table: "chronicle_dead_letters",
            detail: format!(
                "projection `{}` position {}: {detail}",
                self.projection, self.position
            ),
        };
        let number = |column: &str, value: i64| {
            u64::try_from(value)
                .map_err(|_| corrupt(format!("column `{column}` holds {value}, which is out of range")))
        };
        let event_id = match &self.event_id {
            Some(text) => Some(
                Uuid::parse_str(text)
                    .map_err(|_| corrupt(format!("column `event_id` holds malformed `{text}`")))?,
            ),
            None => None,
        };
        Ok(DeadLetter {
            version: u32::try_from(self.version).map_err(|_| {
                corrupt(format!(
                    "column `version` holds {}, which is out of range",
                    self.version
                ))
            })?,
            position: number("position", self.position)?,
            transaction_id: number("transaction_id", self.transaction_id)?,
            stream_version: number("stream_version", self.stream_version)?,
            event_id,
            projection: self.projection,
            stream_id: self.stream_id,
            event_type: self.event_type,
            error: self.error,
            recorded_at: self.recorded_at,
            retry_requested_at: self.retry_requested_at,
        })
    }
}

/// The `ReadStore` methods of the checkpoint and dead-letter tables, for a SQL read store whose
/// `self.sql.checkpoints` holds its [`CheckpointStatements`], whose `self.reader()` is the pool
/// queries read on, and whose dialect is `$dialect`. Used inside the store's `impl ReadStore`.
macro_rules! checkpoint_methods {
    ($dialect:ty) => {
        async fn load_checkpoint<'a>(
            &'a self,
            session: &'a mut Self::Session,
            projection: &'a str,
        ) -> Result<Option<$crate::core::read_store::CheckpointRow>, $crate::core::read_store::ReadStoreError>
        {
            let row = sqlx::query(&self.sql.checkpoints.load)
                .bind(projection)
                .fetch_optional(&mut *session)
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            row.map(|row| Self::checkpoint_of_row(projection, &row))
                .transpose()
        }

        async fn checkpoints(
            &self,
        ) -> Result<
            Vec<(String, $crate::core::read_store::CheckpointRow)>,
            $crate::core::read_store::ReadStoreError,
        > {
            use sqlx::Row as _;
            let rows = sqlx::query(&self.sql.checkpoints.list)
                .fetch_all(self.reader())
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            rows.iter()
                .map(|row| {
                    let projection: String = row
                        .try_get("projection")
                        .map_err(|e| $crate::core::read_store::ReadStoreError::Database(Box::new(e)))?;
                    let checkpoint = Self::checkpoint_of_row(&projection, row)?;
                    Ok((projection, checkpoint))
                })
                .collect()
        }

        async fn read_checkpoint<'a>(
            &'a self,
            projection: &'a str,
        ) -> Result<Option<$crate::core::read_store::CheckpointRow>, $crate::core::read_store::ReadStoreError>
        {
            let row = sqlx::query(&self.sql.checkpoints.load)
                .bind(projection)
                .fetch_optional(self.reader())
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            row.map(|row| Self::checkpoint_of_row(projection, &row))
                .transpose()
        }

        async fn save_checkpoint<'a>(
            &'a self,
            connection: &'a mut Self::Connection,
            projection: &'a str,
            previous: Option<$crate::core::read_store::CheckpointRow>,
            next: $crate::core::read_store::CheckpointRow,
        ) -> Result<bool, $crate::core::read_store::ReadStoreError> {
            use $crate::backend::sql::checkpoints::checkpoint_columns;
            let (transaction_id, position) = checkpoint_columns(next.checkpoint)?;
            let query = match previous {
                None => sqlx::query(&self.sql.checkpoints.insert)
                    .bind(projection)
                    .bind(i64::from(next.version))
                    .bind(transaction_id)
                    .bind(position),
                Some(previous) => {
                    let (old_transaction_id, old_position) = checkpoint_columns(previous.checkpoint)?;
                    sqlx::query(&self.sql.checkpoints.update)
                        .bind(projection)
                        .bind(i64::from(next.version))
                        .bind(transaction_id)
                        .bind(position)
                        .bind(i64::from(previous.version))
                        .bind(old_transaction_id)
                        .bind(old_position)
                }
            };
            let done = query
                .execute(&mut *connection)
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            Ok(done.rows_affected() == 1)
        }

        async fn record_dead_letter<'a>(
            &'a self,
            connection: &'a mut Self::Connection,
            letter: &'a $crate::core::read_store::DeadLetter,
        ) -> Result<(), $crate::core::read_store::ReadStoreError> {
            use $crate::backend::sql::checkpoints::checkpoint_columns;
            let (transaction_id, position) = checkpoint_columns($crate::core::source::Checkpoint {
                transaction_id: letter.transaction_id,
                position: letter.position,
            })?;
            sqlx::query(&self.sql.checkpoints.record_dead_letter)
                .bind(&letter.projection)
                .bind(i64::from(letter.version))
                .bind(position)
                .bind(transaction_id)
                .bind(letter.event_id.map(|id| id.to_string()))
                .bind(&letter.stream_id)
                .bind($crate::backend::sql::rows::clamp_i64(letter.stream_version))
                .bind(&letter.event_type)
                .bind(&letter.error)
                .bind(letter.recorded_at)
                .execute(&mut *connection)
                .await
                .map(drop)
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)
        }

        async fn delete_dead_letters<'a>(
            &'a self,
            connection: &'a mut Self::Connection,
            projection: &'a str,
            which: $crate::core::read_store::DeadLetters<'a>,
        ) -> Result<(), $crate::core::read_store::ReadStoreError> {
            let query = match which {
                $crate::core::read_store::DeadLetters::NotOfVersion(version) => {
                    sqlx::query(&self.sql.checkpoints.delete_dead_letters_not_of)
                        .bind(projection)
                        .bind(i64::from(version))
                }
                $crate::core::read_store::DeadLetters::AtPositions(positions) => {
                    let positions: Vec<i64> = positions
                        .iter()
                        .map(|p| $crate::backend::sql::rows::clamp_i64(*p))
                        .collect();
                    let positions = serde_json::to_string(&positions)
                        .map_err(|e| $crate::core::read_store::ReadStoreError::Database(Box::new(e)))?;
                    sqlx::query(&self.sql.checkpoints.delete_dead_letters_at)
                        .bind(projection)
                        .bind(positions)
                }
            };
            query
                .execute(&mut *connection)
                .await
                .map(drop)
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)
        }

        async fn request_retry<'a>(
            &'a self,
            projection: &'a str,
            version: u32,
            position: u64,
        ) -> Result<bool, $crate::core::read_store::ReadStoreError> {
            let done = sqlx::query(&self.sql.checkpoints.request_retry)
                .bind(projection)
                .bind(i64::from(version))
                .bind($crate::backend::sql::rows::clamp_i64(position))
                .bind(chrono::Utc::now())
                .execute(&self.pool)
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            Ok(done.rows_affected() == 1)
        }

        async fn dead_letters<'a>(
            &'a self,
            projection: &'a str,
            version: u32,
        ) -> Result<Vec<$crate::core::read_store::DeadLetter>, $crate::core::read_store::ReadStoreError> {
            let rows = sqlx::query(&self.sql.checkpoints.dead_letters)
                .bind(projection)
                .bind(i64::from(version))
                .fetch_all(self.reader())
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            rows.iter().map(Self::dead_letter_of_row).collect()
        }
    };
}

/// The row readers [`checkpoint_methods!`] calls, for one backend's row type: reading columns
/// by name. Used inside the store's inherent impl.
macro_rules! checkpoint_rows {
    ($row:ty) => {
        fn checkpoint_of_row(
            projection: &str,
            row: &$row,
        ) -> Result<$crate::core::read_store::CheckpointRow, $crate::core::read_store::ReadStoreError> {
            use sqlx::Row as _;
            let get = |column: &str| {
                row.try_get::<i64, _>(column)
                    .map_err(|e| $crate::core::read_store::ReadStoreError::Database(Box::new(e)))
            };
            $crate::backend::sql::checkpoints::checkpoint_row(
                projection,
                get("version")?,
                get("transaction_id")?,
                get("position")?,
            )
        }

        fn dead_letter_of_row(
            row: &$row,
        ) -> Result<$crate::core::read_store::DeadLetter, $crate::core::read_store::ReadStoreError> {
            use sqlx::Row as _;
            let database = |e| $crate::core::read_store::ReadStoreError::Database(Box::new(e));
            $crate::backend::sql::checkpoints::DeadLetterRow {
                projection: row.try_get("projection").map_err(database)?,
                version: row.try_get("version").map_err(database)?,
                position: row.try_get("position").map_err(database)?,
                transaction_id: row.try_get("transaction_id").map_err(database)?,
                event_id: row.try_get("event_id").map_err(database)?,
                stream_id: row.try_get("stream_id").map_err(database)?,
                stream_version: row.try_get("stream_version").map_err(database)?,
                event_type: row.try_get("event_type").map_err(database)?,
                error: row.try_get("error").map_err(database)?,
                recorded_at: row.try_get("recorded_at").map_err(database)?,
                retry_requested_at: row.try_get("retry_requested_at").map_err(database)?,
            }
            .into_dead_letter()
        }
    };
}

pub(crate) use {checkpoint_methods, checkpoint_rows};
