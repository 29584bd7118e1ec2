//! The consumer tables of the SQL read stores (how far a read model fed from a message broker
//! got, and the version of each stream it applied): the same columns, the same steps, one
//! implementation.
//!
//! Each SQL read store keeps its statements in a [`ConsumerStatements`] (from its `.sql` file)
//! and gets the [`ReadStore`](crate::ReadStore) methods for these tables from
//! [`consumer_methods!`] inside its impl. The statements are written so that every backend binds
//! and reads the same Rust types: `bigint` numbers, times as the dead letters' `recorded_at`.

use chrono::{DateTime, Utc};

use crate::core::read_store::{ConsumerRow, ReadStoreError};
use crate::core::source::Checkpoint;

/// The statements of a SQL read store's consumer tables.
#[derive(Debug)]
pub(crate) struct ConsumerStatements {
    /// `(consumer) -> version, transaction_id, position, broker_sequence, last_recorded_at`
    pub load: String,
    /// `(consumer, version, transaction_id, position, broker_sequence, last_recorded_at)`, doing
    /// nothing if a row exists.
    pub insert: String,
    /// `(consumer, version, transaction_id, position, broker_sequence, last_recorded_at, old
    /// version, old transaction_id, old position, old broker_sequence)`, only where the old values
    /// still hold.
    pub update: String,
    /// `(consumer, stream_id) -> version`
    pub consumed_version: String,
    /// `(consumer, stream_id, version)`, replacing the stream's earlier version.
    pub save_consumed_version: String,
    /// `(consumer)`: every stream's version.
    pub forget_consumed: String,
}

/// A consumer row read back from the columns `version`, `transaction_id`, `position`,
/// `broker_sequence` and `last_recorded_at`.
pub(crate) fn consumer_row(
    consumer: &str,
    version: i64,
    transaction_id: i64,
    position: i64,
    broker_sequence: i64,
    last_recorded_at: Option<DateTime<Utc>>,
) -> Result<ConsumerRow, ReadStoreError> {
    let corrupt = |column: &str, value: i64| ReadStoreError::Corrupt {
        table: "chronicle_consumers",
        detail: format!("consumer `{consumer}`: column `{column}` holds {value}, which is out of range"),
    };
    Ok(ConsumerRow {
        version: u32::try_from(version).map_err(|_| corrupt("version", version))?,
        checkpoint: Checkpoint {
            transaction_id: u64::try_from(transaction_id)
                .map_err(|_| corrupt("transaction_id", transaction_id))?,
            position: u64::try_from(position).map_err(|_| corrupt("position", position))?,
        },
        broker_sequence: u64::try_from(broker_sequence)
            .map_err(|_| corrupt("broker_sequence", broker_sequence))?,
        last_recorded_at,
    })
}

/// A stream version of `chronicle_consumed_streams` read back.
pub(crate) fn consumed_version(consumer: &str, stream_id: &str, version: i64) -> Result<u64, ReadStoreError> {
    u64::try_from(version).map_err(|_| ReadStoreError::Corrupt {
        table: "chronicle_consumed_streams",
        detail: format!(
            "consumer `{consumer}` stream `{stream_id}`: column `version` holds {version}, which is out of range"
        ),
    })
}

/// The `ReadStore` methods of the consumer tables, for a SQL read store whose
/// `self.sql.consumers` holds its [`ConsumerStatements`], whose `self.reader()` is the pool
/// queries read on, and whose dialect is `$dialect`. Used inside the store's `impl ReadStore`.
macro_rules! consumer_methods {
    ($dialect:ty) => {
        async fn load_consumer<'a>(
            &'a self,
            session: &'a mut Self::Session,
            consumer: &'a str,
        ) -> Result<Option<$crate::core::read_store::ConsumerRow>, $crate::core::read_store::ReadStoreError> {
            let row = sqlx::query(&self.sql.consumers.load)
                .bind(consumer)
                .fetch_optional(&mut *session)
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            row.map(|row| Self::consumer_of_row(consumer, &row))
                .transpose()
        }

        async fn read_consumer<'a>(
            &'a self,
            consumer: &'a str,
        ) -> Result<Option<$crate::core::read_store::ConsumerRow>, $crate::core::read_store::ReadStoreError> {
            let row = sqlx::query(&self.sql.consumers.load)
                .bind(consumer)
                .fetch_optional(self.reader())
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            row.map(|row| Self::consumer_of_row(consumer, &row))
                .transpose()
        }

        async fn save_consumer<'a>(
            &'a self,
            connection: &'a mut Self::Connection,
            consumer: &'a str,
            previous: Option<$crate::core::read_store::ConsumerRow>,
            next: $crate::core::read_store::ConsumerRow,
        ) -> Result<bool, $crate::core::read_store::ReadStoreError> {
            use $crate::backend::sql::checkpoints::checkpoint_columns;
            use $crate::backend::sql::rows::clamp_i64;
            let (transaction_id, position) = checkpoint_columns(next.checkpoint)?;
            let query = match previous {
                None => sqlx::query(&self.sql.consumers.insert)
                    .bind(consumer)
                    .bind(i64::from(next.version))
                    .bind(transaction_id)
                    .bind(position)
                    .bind(clamp_i64(next.broker_sequence))
                    .bind(next.last_recorded_at),
                Some(previous) => {
                    let (old_transaction_id, old_position) = checkpoint_columns(previous.checkpoint)?;
                    sqlx::query(&self.sql.consumers.update)
                        .bind(consumer)
                        .bind(i64::from(next.version))
                        .bind(transaction_id)
                        .bind(position)
                        .bind(clamp_i64(next.broker_sequence))
                        .bind(next.last_recorded_at)
                        .bind(i64::from(previous.version))
                        .bind(old_transaction_id)
                        .bind(old_position)
                        .bind(clamp_i64(previous.broker_sequence))
                }
            };
            let done = query
                .execute(&mut *connection)
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            Ok(done.rows_affected() == 1)
        }

        async fn consumed_version<'a>(
            &'a self,
            connection: &'a mut Self::Connection,
            consumer: &'a str,
            stream_id: &'a str,
        ) -> Result<Option<u64>, $crate::core::read_store::ReadStoreError> {
            let row = sqlx::query(&self.sql.consumers.consumed_version)
                .bind(consumer)
                .bind(stream_id)
                .fetch_optional(&mut *connection)
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            row.map(|row| Self::consumed_version_of_row(consumer, stream_id, &row))
                .transpose()
        }

        async fn read_consumed_version<'a>(
            &'a self,
            consumer: &'a str,
            stream_id: &'a str,
        ) -> Result<Option<u64>, $crate::core::read_store::ReadStoreError> {
            let row = sqlx::query(&self.sql.consumers.consumed_version)
                .bind(consumer)
                .bind(stream_id)
                .fetch_optional(self.reader())
                .await
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)?;
            row.map(|row| Self::consumed_version_of_row(consumer, stream_id, &row))
                .transpose()
        }

        async fn save_consumed_version<'a>(
            &'a self,
            connection: &'a mut Self::Connection,
            consumer: &'a str,
            stream_id: &'a str,
            version: u64,
        ) -> Result<(), $crate::core::read_store::ReadStoreError> {
            sqlx::query(&self.sql.consumers.save_consumed_version)
                .bind(consumer)
                .bind(stream_id)
                .bind($crate::backend::sql::rows::clamp_i64(version))
                .execute(&mut *connection)
                .await
                .map(drop)
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)
        }

        async fn forget_consumed<'a>(
            &'a self,
            connection: &'a mut Self::Connection,
            consumer: &'a str,
        ) -> Result<(), $crate::core::read_store::ReadStoreError> {
            sqlx::query(&self.sql.consumers.forget_consumed)
                .bind(consumer)
                .execute(&mut *connection)
                .await
                .map(drop)
                .map_err(<$dialect as $crate::backend::sql::Dialect>::read_store_error)
        }
    };
}

/// The row readers [`consumer_methods!`] calls, for one backend's row type: reading columns by
/// name. Used inside the store's inherent impl.
macro_rules! consumer_rows {
    ($row:ty) => {
        fn consumer_of_row(
            consumer: &str,
            row: &$row,
        ) -> Result<$crate::core::read_store::ConsumerRow, $crate::core::read_store::ReadStoreError> {
            use sqlx::Row as _;
            let database = |e| $crate::core::read_store::ReadStoreError::Database(Box::new(e));
            $crate::backend::sql::consumers::consumer_row(
                consumer,
                row.try_get("version").map_err(database)?,
                row.try_get("transaction_id").map_err(database)?,
                row.try_get("position").map_err(database)?,
                row.try_get("broker_sequence").map_err(database)?,
                row.try_get("last_recorded_at").map_err(database)?,
            )
        }

        fn consumed_version_of_row(
            consumer: &str,
            stream_id: &str,
            row: &$row,
        ) -> Result<u64, $crate::core::read_store::ReadStoreError> {
            use sqlx::Row as _;
            let version = row
                .try_get("version")
                .map_err(|e| $crate::core::read_store::ReadStoreError::Database(Box::new(e)))?;
            $crate::backend::sql::consumers::consumed_version(consumer, stream_id, version)
        }
    };
}

pub(crate) use {consumer_methods, consumer_rows};
