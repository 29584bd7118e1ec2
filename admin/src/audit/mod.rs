//! The audit table: every action taken through the admin page (who, when, what, on what, and how
//! it ended), in the read store's database, written in the same transaction as the action.
//!
//! `chronicle_admin_audit` is created by [`Admin::migrate`](crate::Admin::migrate) in the read
//! store's schema (its connections' `search_path` on Postgres). The table is written through the
//! read store's connection type, for which [`AuditConnection`] is implemented here
//! (`sql.rs`: Postgres, SQLite, MariaDB, and Chronicle's portable `Sql` over any of them).

mod sql;

use std::future::Future;

use chronicle::{DeadLetters, ReadStore, ReadTransaction};
use chrono::{DateTime, Utc};

use crate::error::AdminError;

/// One row of the audit table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When the action was taken.
    pub at: DateTime<Utc>,
    /// Who took it: the name of the admin token.
    pub actor: String,
    /// What: `skip` or `retry` (a dead letter).
    pub action: String,
    /// On what: `<projection> v<version> @<position>` for a dead letter.
    pub target: String,
    /// How it ended: `ok`, or `failed: <why>`.
    pub outcome: String,
}

/// A read-store connection the audit table can be kept through.
pub trait AuditConnection: Send {
    /// Creates the audit table if missing.
    fn create_audit_table(&mut self) -> impl Future<Output = Result<(), chronicle::sqlx::Error>> + Send;

    /// Adds `entry`.
    fn insert_audit<'a>(
        &'a mut self,
        entry: &'a AuditEntry,
    ) -> impl Future<Output = Result<(), chronicle::sqlx::Error>> + Send + 'a;

    /// The newest `limit` entries, newest first.
    fn audit_entries(
        &mut self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, chronicle::sqlx::Error>> + Send;
}

/// Creates the audit table, in a transaction on a session of the read store.
pub(crate) async fn migrate<R>(read: &R) -> Result<(), AdminError>
where
    R: ReadStore,
    R::Connection: AuditConnection,
{
    let mut session = read.connect().await?;
    let created = async {
        let mut transaction = R::begin(&mut session).await?;
        transaction
            .connection()
            .create_audit_table()
            .await
            .map_err(AdminError::Audit)?;
        transaction.commit().await?;
        Ok(())
    }
    .await;
    R::close(session).await;
    created
}

/// The newest `limit` entries, in a read-only transaction.
pub(crate) async fn entries<R>(read: &R, limit: u32) -> Result<Vec<AuditEntry>, AdminError>
where
    R: ReadStore,
    R::Connection: AuditConnection,
{
    let mut transaction = read.begin_read_only().await?;
    let entries = transaction.connection().audit_entries(limit).await;
    // Nothing to keep; a failed rollback only means the connection is gone.
    let _ = transaction.rollback().await;
    entries.map_err(AdminError::Audit)
}

/// What an admin may do.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Delete a dead letter: the projection stays past the event without applying it.
    Skip {
        projection: String,
        version: u32,
        position: u64,
    },
    /// Ask the projection's active runner to apply a dead letter's event again.
    Retry {
        projection: String,
        version: u32,
        position: u64,
    },
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Self::Skip { .. } => "skip",
            Self::Retry { .. } => "retry",
        }
    }

    fn target(&self) -> String {
        match self {
            Self::Skip {
                projection,
                version,
                position,
            }
            | Self::Retry {
                projection,
                version,
                position,
            } => format!("{projection} v{version} @{position}"),
        }
    }

    /// Does it, in the transaction of `connection` (a retry request is a statement of its own
    /// on the store's pool, made before the audit row is written: a request whose row then
    /// fails to commit stays requested, and the page says the action failed).
    async fn run<R: ReadStore>(&self, read: &R, connection: &mut R::Connection) -> Result<(), AdminError> {
        match self {
            Self::Skip {
                projection, position, ..
            } => {
                read.delete_dead_letters(connection, projection, DeadLetters::AtPositions(&[*position]))
                    .await?
            }
            Self::Retry {
                projection,
                version,
                position,
            } => {
                if !read.request_retry(projection, *version, *position).await? {
                    // Deleted meanwhile: applied by a rebuild, or skipped.
                    return Err(AdminError::NotFound(format!(
                        "`{projection}` has no dead letter at position {position} any more"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Does `action` for `actor` in a transaction on a session of the read store and records it in
/// the audit table, in the same transaction; when it fails, records the failure in a transaction
/// of its own (and says so in the log if even that fails), and returns the action's error.
pub(crate) async fn audited<R>(read: &R, actor: &str, action: &Action) -> Result<(), AdminError>
where
    R: ReadStore,
    R::Connection: AuditConnection,
{
    let mut entry = AuditEntry {
        at: Utc::now(),
        actor: actor.to_owned(),
        action: action.name().to_owned(),
        target: action.target(),
        outcome: "ok".to_owned(),
    };
    let mut session = read.connect().await?;
    let done = record(read, &mut session, Some(action), &entry).await;
    if let Err(error) = &done {
        entry.outcome = format!("failed: {error}");
        if let Err(not_recorded) = record(read, &mut session, None, &entry).await {
            tracing::warn!(
                actor = %entry.actor,
                action = %entry.action,
                target = %entry.target,
                %error,
                %not_recorded,
                "an admin action failed and its failure could not be audited"
            );
        }
    }
    R::close(session).await;
    done
}

/// Does `action` (if any) and writes `entry`, in one transaction on `session`.
async fn record<R>(
    read: &R,
    session: &mut R::Session,
    action: Option<&Action>,
    entry: &AuditEntry,
) -> Result<(), AdminError>
where
    R: ReadStore,
    R::Connection: AuditConnection,
{
    let mut transaction = R::begin(session).await?;
    if let Some(action) = action {
        action.run(read, transaction.connection()).await?;
    }
    transaction
        .connection()
        .insert_audit(entry)
        .await
        .map_err(AdminError::Audit)?;
    transaction.commit().await?;
    Ok(())
}
