//! One tenant's figures for `chronicle status --tenant`: how many events it holds, its newest,
//! and how many of them lie after a projection's checkpoint. The stores' own progress counts the
//! whole log (a subscription reads every tenant), so the tool counts these in the event table,
//! by its `(tenant, position)` index.

use chronicle::sqlx;
use chronicle::{Checkpoint, Tenant};
use chrono::{DateTime, Utc};

use crate::connect::Log;
use crate::error::CliError;

/// A tenant's events: how many, and the newest one's position and time.
pub(crate) struct TenantTotals {
    pub(crate) events: u64,
    pub(crate) head_position: Option<u64>,
    pub(crate) head_recorded_at: Option<DateTime<Utc>>,
}

/// A tenant's events after a checkpoint: how many, and when the first was recorded.
pub(crate) struct TenantBehind {
    pub(crate) events: u64,
    pub(crate) oldest_recorded_at: Option<DateTime<Utc>>,
}

// Times as RFC 3339 text on both engines (SQLite keeps them so), so that one decoding serves both.
const PG_TOTALS: &str = r#"SELECT count(*) AS events, max(position) AS head,
    (SELECT to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
     FROM "{schema}".chronicle_events WHERE tenant = $1 ORDER BY position DESC LIMIT 1) AS last
FROM "{schema}".chronicle_events WHERE tenant = $1"#;
// A checkpoint covers what committed at or before it in (transaction, position) order.
const PG_BEHIND: &str = r#"SELECT count(*) AS events,
    to_char(min(recorded_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS oldest
FROM "{schema}".chronicle_events
WHERE tenant = $1 AND (transaction_id, position) > ($2::bigint::text::xid8, $3::bigint)"#;
const SQLITE_TOTALS: &str = "SELECT COUNT(*) AS events, MAX(position) AS head,
    (SELECT recorded_at FROM chronicle_events WHERE tenant = ?1 ORDER BY position DESC LIMIT 1) AS last
FROM chronicle_events WHERE tenant = ?1";
const SQLITE_BEHIND: &str = "SELECT COUNT(*) AS events, MIN(recorded_at) AS oldest
FROM chronicle_events WHERE tenant = ?1 AND position > ?2";

fn unreadable(error: sqlx::Error) -> CliError {
    CliError::Invalid(format!("cannot count the tenant's events: {error}"))
}

/// A count or position as the tool shows it (never negative in a healthy table).
fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A time as both engines give it here: RFC 3339 text.
fn time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
        .map(|at| at.with_timezone(&Utc))
}

/// `tenant`'s totals in `log`.
pub(crate) async fn totals(log: &Log, tenant: &Tenant) -> Result<TenantTotals, CliError> {
    let (events, head, last): (i64, Option<i64>, Option<String>) = match log {
        Log::Postgres(store) => {
            sqlx::query_as(&PG_TOTALS.replace("{schema}", store.schema()))
                .bind(tenant.as_str())
                .fetch_one(store.pool())
                .await
        }
        Log::Sqlite(store) => {
            sqlx::query_as(SQLITE_TOTALS)
                .bind(tenant.as_str())
                .fetch_one(store.pool())
                .await
        }
    }
    .map_err(unreadable)?;
    Ok(TenantTotals {
        events: unsigned(events),
        head_position: head.map(unsigned),
        head_recorded_at: time(last),
    })
}

/// `tenant`'s events in `log` after `checkpoint`.
pub(crate) async fn behind(
    log: &Log,
    tenant: &Tenant,
    checkpoint: Checkpoint,
) -> Result<TenantBehind, CliError> {
    let clamp = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let (events, oldest): (i64, Option<String>) = match log {
        Log::Postgres(store) => {
            sqlx::query_as(&PG_BEHIND.replace("{schema}", store.schema()))
                .bind(tenant.as_str())
                .bind(clamp(checkpoint.transaction_id))
                .bind(clamp(checkpoint.position))
                .fetch_one(store.pool())
                .await
        }
        Log::Sqlite(store) => {
            sqlx::query_as(SQLITE_BEHIND)
                .bind(tenant.as_str())
                .bind(clamp(checkpoint.position))
                .fetch_one(store.pool())
                .await
        }
    }
    .map_err(unreadable)?;
    Ok(TenantBehind {
        events: unsigned(events),
        oldest_recorded_at: time(oldest),
    })
}
