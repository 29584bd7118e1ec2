//! The audit table's SQL on each engine, and [`AuditConnection`] for each engine's connection and
//! for Chronicle's portable [`Sql`](chronicle::Sql), which hands the engine's own connection out.

use chronicle::sqlx;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
use chrono::{DateTime, Utc};

use super::{AuditConnection, AuditEntry};

/// A row as the engines decode it: time, actor, action, target, outcome.
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
type Row = (DateTime<Utc>, String, String, String, String);

#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
fn entry((at, actor, action, target, outcome): Row) -> AuditEntry {
    AuditEntry {
        at,
        actor,
        action,
        target,
        outcome,
    }
}

/// The statements Postgres and SQLite share (`$n` placeholders).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
const INSERT_NUMBERED: &str = "INSERT INTO chronicle_admin_audit (acted_at, actor, action, target, outcome) \
                               VALUES ($1, $2, $3, $4, $5)";
#[cfg(any(feature = "postgres", feature = "sqlite"))]
const SELECT_NUMBERED: &str = "SELECT acted_at, actor, action, target, outcome FROM chronicle_admin_audit \
                               ORDER BY id DESC LIMIT $1";

/// `AuditConnection` for a sqlx connection type, with its engine's statements.
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
macro_rules! audit_connection {
    ($connection:ty, create: $create:expr, insert: $insert:expr, select: $select:expr $(,)?) => {
        impl AuditConnection for $connection {
            async fn create_audit_table(&mut self) -> Result<(), sqlx::Error> {
                sqlx::query($create).execute(&mut *self).await.map(drop)
            }

            async fn insert_audit<'a>(&'a mut self, entry: &'a AuditEntry) -> Result<(), sqlx::Error> {
                sqlx::query($insert)
                    .bind(entry.at)
                    .bind(&entry.actor)
                    .bind(&entry.action)
                    .bind(&entry.target)
                    .bind(&entry.outcome)
                    .execute(&mut *self)
                    .await
                    .map(drop)
            }

            async fn audit_entries(&mut self, limit: u32) -> Result<Vec<AuditEntry>, sqlx::Error> {
                let rows: Vec<Row> = sqlx::query_as($select)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self)
                    .await?;
                Ok(rows.into_iter().map(entry).collect())
            }
        }
    };
}

#[cfg(feature = "postgres")]
audit_connection!(
    sqlx::PgConnection,
    create: "CREATE TABLE IF NOT EXISTS chronicle_admin_audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        acted_at TIMESTAMPTZ NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        outcome TEXT NOT NULL
    )",
    insert: INSERT_NUMBERED,
    select: SELECT_NUMBERED,
);

#[cfg(feature = "sqlite")]
audit_connection!(
    sqlx::SqliteConnection,
    create: "CREATE TABLE IF NOT EXISTS chronicle_admin_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        acted_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        outcome TEXT NOT NULL
    )",
    insert: INSERT_NUMBERED,
    select: SELECT_NUMBERED,
);

#[cfg(feature = "mysql")]
audit_connection!(
    sqlx::MySqlConnection,
    create: "CREATE TABLE IF NOT EXISTS chronicle_admin_audit (
        id BIGINT AUTO_INCREMENT PRIMARY KEY,
        acted_at DATETIME(6) NOT NULL,
        actor VARCHAR(255) NOT NULL,
        action VARCHAR(64) NOT NULL,
        target TEXT NOT NULL,
        outcome TEXT NOT NULL
    )",
    insert: "INSERT INTO chronicle_admin_audit (acted_at, actor, action, target, outcome) \
             VALUES (?, ?, ?, ?, ?)",
    select: "SELECT acted_at, actor, action, target, outcome FROM chronicle_admin_audit \
             ORDER BY id DESC LIMIT ?",
);

/// The portable connection's engine has no audit table in this build (its feature is off).
fn not_built(engine: chronicle::SqlEngine) -> sqlx::Error {
    sqlx::Error::Configuration(
        format!("chronicle-admin was built without the audit table of {engine:?}: enable its feature").into(),
    )
}

/// Runs `$call` on the engine's own connection of a `Sql`.
macro_rules! on_engine {
    ($sql:expr, |$connection:ident| $call:expr) => {{
        #[cfg(feature = "postgres")]
        if let Some($connection) = $sql.postgres() {
            return $call.await;
        }
        #[cfg(feature = "sqlite")]
        if let Some($connection) = $sql.sqlite() {
            return $call.await;
        }
        #[cfg(feature = "mysql")]
        if let Some($connection) = $sql.mysql() {
            return $call.await;
        }
        Err(not_built($sql.engine()))
    }};
}

// Built without any engine's feature, every method says so and uses none of its arguments.
#[cfg_attr(
    not(any(feature = "postgres", feature = "sqlite", feature = "mysql")),
    allow(unused_variables)
)]
impl AuditConnection for chronicle::Sql {
    async fn create_audit_table(&mut self) -> Result<(), sqlx::Error> {
        on_engine!(self, |connection| connection.create_audit_table())
    }

    async fn insert_audit<'a>(&'a mut self, entry: &'a AuditEntry) -> Result<(), sqlx::Error> {
        on_engine!(self, |connection| connection.insert_audit(entry))
    }

    async fn audit_entries(&mut self, limit: u32) -> Result<Vec<AuditEntry>, sqlx::Error> {
        on_engine!(self, |connection| connection.audit_entries(limit))
    }
}
