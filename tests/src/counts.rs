//! A view that counts each stream's events (on Postgres, and written once for every engine), and rows of the event
//! table written by hand, as a tool or a restored backup might write them: what the read-side
//! and backend tests use to see exactly what a runner or an inline projection applied.

use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use uuid::Uuid;

/// How many events of each stream a view has seen: `robust_counts(stream_id, n)`.
#[derive(Default)]
pub struct Counts;

#[projection(name = "test.robust_counts", version = 1)]
impl Counts {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS robust_counts (stream_id TEXT PRIMARY KEY, n BIGINT NOT NULL)",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM robust_counts").execute(&mut *db).await?;
        Ok(())
    }

    #[on]
    async fn opened(
        &self,
        _event: &bank::AccountOpened,
        meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        count(db, &meta.stream_id).await
    }

    #[on]
    async fn deposited(
        &self,
        _event: &bank::MoneyDeposited,
        meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        count(db, &meta.stream_id).await
    }
}

async fn count(db: &mut PgConnection, stream_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO robust_counts (stream_id, n) VALUES ($1, 1) \
         ON CONFLICT (stream_id) DO UPDATE SET n = robust_counts.n + 1",
    )
    .bind(stream_id)
    .execute(&mut *db)
    .await
    .map(drop)
}

/// The same counting view written once, for a `SqlReadStore` on any engine (the Postgres one
/// above stays on `PgConnection` for inline use).
#[derive(Default)]
pub struct PortableCounts;

#[projection(name = "test.robust_counts", version = 1)]
impl PortableCounts {
    /// On MariaDB the key is bytes: a stream id of 1,024 bytes in `utf8mb4` would not fit an
    /// index key. Its reset creates the table, which MariaDB commits at once (DDL ends a
    /// transaction there): it runs again harmlessly.
    #[reset]
    async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
        let key = match db.engine() {
            chronicle::SqlEngine::MySql => "VARBINARY(1024)",
            _ => "TEXT",
        };
        db.execute(sql(format!(
            "CREATE TABLE IF NOT EXISTS robust_counts (stream_id {key} PRIMARY KEY, n BIGINT NOT NULL)"
        )))
        .await?;
        db.execute(sql("DELETE FROM robust_counts")).await.map(drop)
    }

    #[on]
    async fn opened(
        &self,
        _event: &bank::AccountOpened,
        meta: &RecordedEvent,
        db: &mut Sql,
    ) -> Result<(), sqlx::Error> {
        count_portably(db, &meta.stream_id).await
    }

    #[on]
    async fn deposited(
        &self,
        _event: &bank::MoneyDeposited,
        meta: &RecordedEvent,
        db: &mut Sql,
    ) -> Result<(), sqlx::Error> {
        count_portably(db, &meta.stream_id).await
    }

    #[query]
    async fn count_of(
        &self,
        query: &CountOf,
        db: &mut ReadOnly<'_, Sql>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let row: Option<(i64,)> = db
            .fetch_optional(sql_as("SELECT n FROM robust_counts WHERE stream_id = $1").bind(&query.0))
            .await?;
        Ok(row.map(|(n,)| n))
    }
}

/// How many events of a stream the portable counting view has seen.
#[derive(Query)]
#[query(output = Option<i64>, read_model = PortableCounts)]
pub struct CountOf(pub String);

/// Counts one more event of `stream_id`: an update, or the first row (one runner writes at a
/// time, so the two statements cannot race).
async fn count_portably(db: &mut Sql, stream_id: &str) -> Result<(), sqlx::Error> {
    let changed = db
        .execute(sql("UPDATE robust_counts SET n = n + 1 WHERE stream_id = $1").bind(stream_id))
        .await?;
    if changed == 0 {
        db.execute(sql("INSERT INTO robust_counts (stream_id, n) VALUES ($1, 1)").bind(stream_id))
            .await?;
    }
    Ok(())
}

/// The count of `stream_id` in the view of `schema`.
pub async fn counted(store: &PostgresStore, schema: &str, stream_id: &str) -> Option<i64> {
    sqlx::query_scalar(&format!(
        "SELECT n FROM \"{schema}\".robust_counts WHERE stream_id = $1"
    ))
    .bind(stream_id)
    .fetch_optional(store.pool())
    .await
    .expect("read the view")
}

/// Inserts a row into the event table by hand, as a tool or a restored backup might, with the
/// given version and metadata (JSON text). Returns its position.
pub async fn insert_raw(
    store: &PostgresStore,
    stream_id: &str,
    stream_version: i64,
    event_type: &str,
    event_version: i32,
    payload: &str,
    metadata: &str,
) -> u64 {
    let position: i64 = sqlx::query_scalar(&format!(
        "INSERT INTO \"{}\".chronicle_events \
         (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8) RETURNING position",
        store.schema()
    ))
    .bind(stream_id)
    .bind(stream_version)
    .bind(Uuid::new_v4())
    .bind(event_type)
    .bind(event_version)
    .bind(payload)
    .bind(metadata)
    .bind(Uuid::new_v4())
    .fetch_one(store.pool())
    .await
    .expect("insert by hand");
    u64::try_from(position).expect("a positive position")
}

/// Metadata that reads as Chronicle's.
pub fn good_metadata() -> String {
    let id = Uuid::new_v4();
    format!(r#"{{"command_id":"{id}","correlation_id":"{id}","causation_id":"{id}"}}"#)
}

/// Appends `events` deposits of 1 each, spread round-robin over `streams` new account streams
/// `account-<prefix><i>`, in one statement: a large log in a second or two, where commands would
/// take minutes. Returns the last event's position.
pub async fn insert_deposits(store: &PostgresStore, prefix: &str, streams: u32, events: u32) -> u64 {
    let position: i64 = sqlx::query_scalar(&format!(
        "INSERT INTO \"{}\".chronicle_events \
         (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
         SELECT 'account-' || $1 || (g % $2), g / $2 + 1, gen_random_uuid(), 'bank.MoneyDeposited', 1, \
                jsonb_build_object('account_id', $1 || (g % $2), 'amount', 1), $4::jsonb, gen_random_uuid() \
         FROM generate_series(0, $3 - 1) AS g \
         RETURNING position",
        store.schema()
    ))
    .bind(prefix)
    .bind(i64::from(streams))
    .bind(i64::from(events))
    .bind(good_metadata())
    .fetch_all(store.pool())
    .await
    .expect("insert deposits in bulk")
    .into_iter()
    .max()
    .expect("at least one event");
    u64::try_from(position).expect("a positive position")
}
