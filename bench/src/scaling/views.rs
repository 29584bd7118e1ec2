//! The two views the scale-out benchmark partitions, both a balance per account with a count of
//! the events applied to it (so the harness checks that each event was applied once):
//! [`PerEventBalances`] writes one statement per event, and so waits on the database for each;
//! [`BatchBalances`] writes one statement per run of events, like the bank's own views.
//!
//! Each counts the events its handlers were given in the process (`handled`): what one worker
//! read of the log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bank::{AccountOpened, MoneyDeposited, MoneyWithdrawn};
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};

/// The table both views write, each in its own read-store schema.
pub const TABLE: &str = "bench_balances";

/// The statements of one event on `table` (the views' own, or the raw baseline's copy in a
/// schema of its own, which writes exactly what the per-event view writes).
pub(crate) struct Statements {
    pub(crate) create: String,
    /// `(account_id)`: an opened account.
    pub(crate) insert: String,
    /// `(account_id, change)`: one event's change of balance.
    pub(crate) update: String,
}

impl Statements {
    pub(crate) fn on(table: &str) -> Self {
        Self {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {table} (account_id text PRIMARY KEY, \
                 balance bigint NOT NULL, applied bigint NOT NULL)"
            ),
            insert: format!("INSERT INTO {table} (account_id, balance, applied) VALUES ($1, 0, 1)"),
            update: format!(
                "UPDATE {table} SET balance = balance + $2, applied = applied + 1 WHERE account_id = $1"
            ),
        }
    }
}

/// The statements on the views' table, in the read store's schema.
fn statements() -> &'static Statements {
    static STATEMENTS: std::sync::OnceLock<Statements> = std::sync::OnceLock::new();
    STATEMENTS.get_or_init(|| Statements::on(TABLE))
}

/// The rows, total balance and events applied of the table in `schema`.
pub(crate) async fn totals(db: &crate::db::Db, schema: &str) -> crate::Result<(i64, i64, i64)> {
    Ok(sqlx::query_as(&format!(
        "SELECT count(*), COALESCE(sum(balance), 0)::bigint, COALESCE(sum(applied), 0)::bigint \
         FROM \"{schema}\".{TABLE}"
    ))
    .fetch_one(&db.admin)
    .await?)
}

async fn create_table(db: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(&statements().create).execute(&mut *db).await?;
    sqlx::query(&format!("DELETE FROM {TABLE}"))
        .execute(&mut *db)
        .await?;
    Ok(())
}

fn count(handled: &AtomicU64, events: usize) {
    handled.fetch_add(events as u64, Ordering::Relaxed);
}

/// One `UPDATE` per event.
#[derive(Default, Clone)]
pub struct PerEventBalances {
    /// Events given to the handlers in this process (a retried batch counts again).
    pub handled: Arc<AtomicU64>,
}

impl PerEventBalances {
    async fn add(&self, db: &mut PgConnection, account_id: &str, change: i64) -> Result<(), sqlx::Error> {
        count(&self.handled, 1);
        sqlx::query(&statements().update)
            .bind(account_id)
            .bind(change)
            .execute(db)
            .await
            .map(drop)
    }
}

#[projection(name = "bench.per_event_balances", version = 1)]
impl PerEventBalances {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        create_table(db).await
    }

    #[on]
    async fn opened(&self, event: &AccountOpened, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        count(&self.handled, 1);
        sqlx::query(&statements().insert)
            .bind(&event.account_id)
            .execute(db)
            .await
            .map(drop)
    }

    #[on]
    async fn deposited(&self, event: &MoneyDeposited, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.add(db, &event.account_id, event.amount).await
    }

    #[on]
    async fn withdrawn(&self, event: &MoneyWithdrawn, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.add(db, &event.account_id, -event.amount).await
    }
}

/// One statement per run of events of a type (arrays, `UNNEST`).
#[derive(Default, Clone)]
pub struct BatchBalances {
    /// Events given to the handlers in this process (a retried batch counts again).
    pub handled: Arc<AtomicU64>,
}

impl BatchBalances {
    async fn add<'e>(
        &self,
        db: &mut PgConnection,
        changes: impl ExactSizeIterator<Item = (&'e str, i64)>,
    ) -> Result<(), sqlx::Error> {
        count(&self.handled, changes.len());
        // Per account: the net change and how many events made it.
        let mut net: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (account_id, change) in changes {
            let entry = net.entry(account_id).or_default();
            entry.0 += change;
            entry.1 += 1;
        }
        let ids: Vec<&str> = net.keys().copied().collect();
        let (deltas, applied): (Vec<i64>, Vec<i64>) = net.values().copied().unzip();
        sqlx::query(
            "UPDATE bench_balances AS b SET balance = b.balance + c.delta, applied = b.applied + c.applied \
             FROM UNNEST($1::text[], $2::bigint[], $3::bigint[]) AS c(account_id, delta, applied) \
             WHERE b.account_id = c.account_id",
        )
        .bind(ids)
        .bind(deltas)
        .bind(applied)
        .execute(db)
        .await
        .map(drop)
    }
}

#[projection(name = "bench.batch_balances", version = 1)]
impl BatchBalances {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        create_table(db).await
    }

    #[on]
    async fn opened(&self, events: &[AccountOpened], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        count(&self.handled, events.len());
        let ids: Vec<&str> = events.iter().map(|e| e.account_id.as_str()).collect();
        sqlx::query(
            "INSERT INTO bench_balances (account_id, balance, applied) SELECT id, 0, 1 FROM UNNEST($1::text[]) AS a(id)",
        )
        .bind(ids)
        .execute(db)
        .await
        .map(drop)
    }

    #[on]
    async fn deposited(&self, events: &[MoneyDeposited], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.add(db, events.iter().map(|e| (e.account_id.as_str(), e.amount)))
            .await
    }

    #[on]
    async fn withdrawn(&self, events: &[MoneyWithdrawn], db: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.add(db, events.iter().map(|e| (e.account_id.as_str(), -e.amount)))
            .await
    }
}
