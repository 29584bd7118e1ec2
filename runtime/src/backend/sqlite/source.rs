//! The SQLite store as an [`EventSource`]: writers take turns, so the subscription order is the
//! position order and every transaction id is 0.

use sqlx::Row as _;

use super::errors::store_error;
use super::reads::{event_row, parse_time};
use super::store::SqliteStore;
use crate::backend::sql::rows::{clamp_i64, to_u64};
use crate::core::error::StoreError;
use crate::core::source::{
    batch, serial_position, AppendListener, Batch, Checkpoint, EventSource, Head, Progress,
};

impl EventSource for SqliteStore {
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
        let rows = sqlx::query(&self.sql.read_batch)
            .bind(clamp_i64(serial_position(after)))
            .bind(types_json(event_types)?)
            .bind(clamp_i64(limit as u64))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        // Every row carries the head; with no event there is still one row, of NULLs. The first
        // row that cannot be read as an event ends the batch.
        let mut head = None;
        let mut events = Vec::with_capacity(rows.len());
        let mut unreadable = None;
        for row in &rows {
            head = Some(row.try_get::<i64, _>("head").map_err(store_error)?);
            if unreadable.is_some()
                || row
                    .try_get::<Option<i64>, _>("position")
                    .map_err(store_error)?
                    .is_none()
            {
                continue;
            }
            match event_row(row)?.check() {
                Ok(event) => events.push(event),
                Err(failed) => unreadable = Some(Box::new(failed.1)),
            }
        }
        let head = head.ok_or_else(|| store_error(sqlx::Error::RowNotFound))?;
        let caught_up = Checkpoint {
            transaction_id: 0,
            position: to_u64("chronicle_events", "position", head)?,
        };
        Ok(batch(after, events, limit, caught_up, unreadable))
    }

    async fn head(&self) -> Result<Head, StoreError> {
        let row = sqlx::query(&self.sql.head)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        let Some(row) = row else {
            return Ok(Head {
                checkpoint: Checkpoint::START,
                position: None,
                recorded_at: None,
            });
        };
        let position = to_u64(
            "chronicle_events",
            "position",
            row.try_get("position").map_err(store_error)?,
        )?;
        let recorded_at: String = row.try_get("recorded_at").map_err(store_error)?;
        Ok(Head {
            checkpoint: Checkpoint {
                transaction_id: 0,
                position,
            },
            position: Some(position),
            recorded_at: parse_time(&recorded_at).ok(),
        })
    }

    async fn progress(&self, after: Checkpoint, event_types: &[&str]) -> Result<Progress, StoreError> {
        let after_position = serial_position(after);
        let row = sqlx::query(&self.sql.progress)
            .bind(clamp_i64(after_position))
            .bind(types_json(event_types)?)
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        let readable: i64 = row.try_get("readable").map_err(store_error)?;
        let oldest: Option<String> = row.try_get("oldest_readable_at").map_err(store_error)?;
        Ok(Progress {
            // Positions commit in order: the checkpoint's position is the last one it passed.
            position: (after_position > 0 && after_position < u64::MAX).then_some(after_position),
            readable: to_u64("chronicle_events", "count", readable)?,
            oldest_readable_at: oldest.as_deref().and_then(|at| parse_time(at).ok()),
            held_back: 0,
            held_back_by: None,
        })
    }

    async fn any_between(&self, after: Checkpoint, until: Checkpoint) -> Result<bool, StoreError> {
        let row = sqlx::query(&self.sql.any_between)
            .bind(clamp_i64(serial_position(after)))
            .bind(clamp_i64(serial_position(until)))
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        row.try_get("found").map_err(store_error)
    }

    async fn checkpoint_of(&self, position: u64) -> Result<Option<Checkpoint>, StoreError> {
        let Ok(position_i64) = i64::try_from(position) else {
            return Ok(None);
        };
        let found = sqlx::query(&self.sql.checkpoint_of)
            .bind(position_i64)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(found.map(|_| Checkpoint {
            transaction_id: 0,
            position,
        }))
    }

    /// An in-process signal: see [`SqliteStore`] for which appends raise it.
    async fn listen(&self) -> Result<AppendListener, StoreError> {
        Ok(AppendListener::local(self.appended.subscribe()))
    }
}

/// A type filter as a JSON array, for `json_each`.
fn types_json(event_types: &[&str]) -> Result<String, StoreError> {
    serde_json::to_string(event_types).map_err(|error| StoreError::Database(Box::new(error)))
}
