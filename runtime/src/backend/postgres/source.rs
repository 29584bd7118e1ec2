//! The Postgres store as an [`EventSource`]: batches in the gap-free `(transaction_id, position)`
//! order, the head, a subscriber's progress, and `LISTEN` for wake-ups.

use futures_util::TryStreamExt as _;
use sqlx::Row as _;

use super::errors::store_error;
use super::listen::Waiter;
use super::rows::event_row;
use super::store::PostgresStore;
use crate::backend::sql::rows::{clamp_i64, to_u64};
use crate::core::error::StoreError;
use crate::core::partition::Partition;
use crate::core::source::{batch, AppendListener, Batch, Checkpoint, EventSource, Head, Progress};

/// The most rows a batch read reserves room for up front.
const READ_BATCH_CAPACITY: usize = 10_000;

impl EventSource for PostgresStore {
    async fn read_batch(
        &self,
        after: Checkpoint,
        event_types: &[&str],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        if limit == 0 {
            return Ok(Batch {
                events: Vec::new(),
                horizon: after,
                unreadable: None,
            });
        }
        let query = sqlx::query(&self.database.sql.read_batch)
            .bind(clamp_i64(after.transaction_id))
            .bind(clamp_i64(after.position))
            .bind(event_types)
            .bind(clamp_i64(limit as u64));
        self.read_rows(query, after, limit).await
    }

    async fn head(&self) -> Result<Head, StoreError> {
        let row = self
            .database
            .fetch_one(sqlx::query(&self.database.sql.head))
            .await?;
        let horizon = to_u64(
            "chronicle_events",
            "horizon",
            row.try_get("horizon").map_err(store_error)?,
        )?;
        let position: Option<i64> = row.try_get("position").map_err(store_error)?;
        Ok(Head {
            checkpoint: Checkpoint {
                transaction_id: horizon,
                position: 0,
            },
            position: position
                .map(|p| to_u64("chronicle_events", "position", p))
                .transpose()?,
            recorded_at: row.try_get("recorded_at").map_err(store_error)?,
        })
    }

    async fn progress(&self, after: Checkpoint, event_types: &[&str]) -> Result<Progress, StoreError> {
        let query = sqlx::query(&self.database.sql.progress)
            .bind(clamp_i64(after.transaction_id))
            .bind(clamp_i64(after.position))
            .bind(event_types);
        self.progress_of(query).await
    }

    async fn read_partition(
        &self,
        after: Checkpoint,
        event_types: &[&str],
        limit: usize,
        partition: Partition,
    ) -> Result<Batch, StoreError> {
        if limit == 0 {
            return Ok(Batch {
                events: Vec::new(),
                horizon: after,
                unreadable: None,
            });
        }
        let partition = partition.checked()?;
        let sql = self.database.partition_statements(partition.count);
        let query = sqlx::query(sql.read(partition)?)
            .bind(clamp_i64(after.transaction_id))
            .bind(clamp_i64(after.position))
            .bind(event_types)
            .bind(clamp_i64(limit as u64));
        self.read_rows(query, after, limit).await
    }

    async fn partition_progress(
        &self,
        after: Checkpoint,
        event_types: &[&str],
        partition: Partition,
    ) -> Result<Progress, StoreError> {
        let partition = partition.checked()?;
        let sql = self.database.partition_statements(partition.count);
        let query = sqlx::query(sql.progress(partition)?)
            .bind(clamp_i64(after.transaction_id))
            .bind(clamp_i64(after.position))
            .bind(event_types);
        self.progress_of(query).await
    }

    async fn prepare_partitions(&self, count: u32) -> Result<(), StoreError> {
        let count = Partition::checked_count(count)?;
        let sql = self.database.partition_statements(count);
        // Built while appends wait, once per count: concurrent workers take turns on the lock.
        let mut tx = self.database.pool.begin().await.map_err(store_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('chronicle.partitions'), $1)")
            .bind(count as i32)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query(&sql.index)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    async fn any_between(&self, after: Checkpoint, until: Checkpoint) -> Result<bool, StoreError> {
        let row = self
            .database
            .fetch_one(
                sqlx::query(&self.database.sql.any_between)
                    .bind(clamp_i64(after.transaction_id))
                    .bind(clamp_i64(after.position))
                    .bind(clamp_i64(until.transaction_id))
                    .bind(clamp_i64(until.position)),
            )
            .await?;
        row.try_get("found").map_err(store_error)
    }

    async fn checkpoint_of(&self, position: u64) -> Result<Option<Checkpoint>, StoreError> {
        let Ok(position_i64) = i64::try_from(position) else {
            return Ok(None);
        };
        let Some(row) = self
            .database
            .fetch_optional(sqlx::query(&self.database.sql.checkpoint_of).bind(position_i64))
            .await?
        else {
            return Ok(None);
        };
        let transaction_id: i64 = row.try_get("transaction_id").map_err(store_error)?;
        Ok(Some(Checkpoint {
            transaction_id: to_u64("chronicle_events", "transaction_id", transaction_id)?,
            position,
        }))
    }

    /// A `LISTEN` on the schema's channel, on a connection of its own (opened with the pool's
    /// connect options and acquire timeout, outside the pool), so that waiting subscribers hold
    /// no pool connection. The connection is re-established by [`AppendListener::wait`] after it
    /// is lost, and closed when the listener is dropped.
    async fn listen(&self) -> Result<AppendListener, StoreError> {
        let pool = &self.database.pool;
        let options = (*pool.connect_options()).clone();
        let connect_timeout = pool.options().get_acquire_timeout();
        let waiter = Waiter::connect(
            options,
            connect_timeout,
            self.database.sql.channel.clone(),
            (
                self.database.wake_ups.local(),
                self.database.wake_ups.token().to_owned(),
            ),
        )
        .await
        .map_err(store_error)?;
        Ok(AppendListener::new(waiter))
    }
}

impl PostgresStore {
    /// Runs a read of the log (`read_batch`, or one partition's) and makes its batch.
    async fn read_rows(
        &self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Batch, StoreError> {
        // Rows are decoded as they arrive, while the server still reads the next ones. Every row
        // carries the horizon; with no event there is still one row, of NULLs.
        let mut horizon = None;
        let mut events = Vec::with_capacity(limit.min(READ_BATCH_CAPACITY));
        // The first row that cannot be read as an event ends the batch; the rest are still read,
        // so that the connection is left clean.
        let mut unreadable = None;
        let mut connection = self.database.direct.acquire().await?;
        let outcome = async {
            let mut rows = query.fetch(connection.get());
            while let Some(row) = rows.try_next().await? {
                // `horizon`, then the event's columns (`read_batch` in `events.sql`).
                horizon = Some(row.try_get::<i64, _>(0)?);
                if unreadable.is_some() || row.try_get::<Option<i64>, _>(1)?.is_none() {
                    continue;
                }
                match event_row(&row, 1)?.check() {
                    Ok(event) => events.push(event),
                    Err(failed) => unreadable = Some(Box::new(failed.1)),
                }
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        connection.settle(&outcome);
        outcome.map_err(store_error)?;
        // The statement reads in this order; sorting costs one pass over sorted events.
        events.sort_by_key(Checkpoint::of);
        let horizon = horizon.ok_or_else(|| store_error(sqlx::Error::RowNotFound))?;
        let caught_up = Checkpoint {
            transaction_id: to_u64("chronicle_events", "horizon", horizon)?,
            position: 0,
        };
        Ok(batch(after, events, limit, caught_up, unreadable))
    }

    /// Runs a `progress` statement (the whole log's, or one partition's) and reads its row.
    async fn progress_of(
        &self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Progress, StoreError> {
        let row = self.database.fetch_one(query).await?;
        let count = |column| -> Result<u64, StoreError> {
            to_u64(
                "chronicle_events",
                column,
                row.try_get(column).map_err(store_error)?,
            )
        };
        let position: Option<i64> = row.try_get("position").map_err(store_error)?;
        Ok(Progress {
            position: position
                .map(|p| to_u64("chronicle_events", "position", p))
                .transpose()?,
            readable: count("readable")?,
            oldest_readable_at: row.try_get("oldest_readable_at").map_err(store_error)?,
            held_back: count("held_back")?,
            held_back_by: row.try_get("held_back_by").map_err(store_error)?,
        })
    }
}
