//! Catching a partitioned view up over a data set with 1, 2 or 4 worker processes, and the raw
//! baseline beside it: plain sqlx applying one statement per event on 1 or 4 connections.

use std::path::Path;
use std::time::{Duration, Instant};

use chronicle::sqlx::{self, Connection as _};
use chronicle::{EventSource, PostgresReadStore, PostgresStore, ReadSide};
use serde::Deserialize;

use super::processes::{finish_all, start_all, Finished};
use super::views::{totals, BatchBalances, PerEventBalances, Statements, TABLE};
use super::worker::{View, Worker};
use crate::db::Db;
use crate::Result;

/// The data set caught up over.
pub(crate) struct Data<'a> {
    pub(crate) store: &'a PostgresStore,
    pub(crate) events: usize,
    pub(crate) accounts: usize,
    pub(crate) deposited: i64,
}

/// How the catch-ups run.
pub(crate) struct Settings<'a> {
    /// The harness binary, which `partition-worker` makes a worker.
    pub(crate) exe: &'a Path,
    pub(crate) database_url: &'a str,
    /// Events per batch (per partition).
    pub(crate) batch: usize,
    /// How long one catch-up may take.
    pub(crate) budget: Duration,
}

/// One catch-up.
pub(crate) struct Scaled {
    pub(crate) elapsed: Duration,
    /// Events applied (from the view's own count): all of them unless it ran out of budget.
    pub(crate) applied: i64,
    /// What each worker reported.
    pub(crate) workers: Vec<Finished>,
    /// The machine's CPUs busy during the catch-up, on average (2.0: two cores all the time).
    pub(crate) busy_cpus: f64,
}

impl Scaled {
    /// Events per second.
    pub(crate) fn rate(&self) -> f64 {
        self.applied as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Catches `view` split into `partitions` up from empty with `workers` worker processes, and
/// checks the view: every account, the data set's total, each event applied once.
pub(crate) async fn partitioned(
    db: &Db,
    data: &Data<'_>,
    settings: &Settings<'_>,
    view: View,
    partitions: u32,
    workers: usize,
) -> Result<Scaled> {
    let read_schema = db.schema("scale");
    let read = PostgresReadStore::from_pool(db.pool(2).await?).with_schema(&read_schema)?;
    read.migrate().await?;
    let worker = Worker {
        database_url: settings.database_url.to_owned(),
        events_schema: data.store.schema().to_owned(),
        read_schema: read_schema.clone(),
        view,
        partitions,
        batch: settings.batch,
        lease: chronicle::DEFAULT_LEASE,
        poll: chronicle::DEFAULT_POLL_INTERVAL,
        lifetime: settings.budget + Duration::from_secs(120),
    };
    let head = data.store.head().await?.position;
    db.checkpoint().await?;
    let cpu_before = Cpu::now();
    let started = Instant::now();
    let processes = start_all(&worker, settings.exe, workers).await?;
    let side = ReadSide::new(data.store.clone(), read.clone());
    let waited = match view {
        View::PerEvent => side.wait_for::<PerEventBalances>(head, settings.budget).await,
        View::Batch => side.wait_for::<BatchBalances>(head, settings.budget).await,
    };
    let elapsed = started.elapsed();
    let busy_cpus = cpu_before.busy_since();
    // Counted before the workers stop: what was applied within the time measured.
    let (_, _, applied) = totals(db, &read_schema).await?;
    let finished = finish_all(processes).await?;
    let (rows, balance, _) = totals(db, &read_schema).await?;
    match waited {
        Ok(()) => {
            check("view rows", rows, data.accounts as i64)?;
            check("total balance", balance, data.deposited)?;
            check("events applied (each once)", applied, data.events as i64)?;
        }
        Err(chronicle::ProjectionError::Timeout { .. }) => {}
        Err(other) => return Err(other.into()),
    }
    read.pool().close().await;
    db.drop_schema(&read_schema).await?;
    Ok(Scaled {
        elapsed,
        applied,
        workers: finished,
        busy_cpus,
    })
}

fn check(what: &str, actual: i64, expected: i64) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("partitioned catch-up: {what} is {actual}, expected {expected}").into())
    }
}

/// The machine's CPU counters (`/proc/stat`): busy and all jiffies, over every CPU.
pub(crate) struct Cpu {
    busy: u64,
    total: u64,
    cpus: usize,
}

impl Cpu {
    pub(crate) fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpus = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count();
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let total: u64 = fields.iter().take(8).sum();
        // idle and iowait are the 4th and 5th.
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        Self {
            busy: total.saturating_sub(idle),
            total,
            cpus: cpus.max(1),
        }
    }

    /// CPUs busy on average since `self` was taken.
    pub(crate) fn busy_since(&self) -> f64 {
        let now = Self::now();
        let total = now.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        now.busy.saturating_sub(self.busy) as f64 / total as f64 * self.cpus as f64
    }
}

/// An event as the raw baseline decodes it: the bank's payloads, of which it needs two fields.
#[derive(Deserialize)]
struct Payload {
    account_id: String,
    #[serde(default)]
    amount: i64,
}

/// The raw baseline: `connections` sqlx connections, each reading its share of the streams
/// (`partition_key % connections`) in batches of `batch` and applying one statement per event
/// in a transaction per batch, like the per-event view without Chronicle. Returns the time and
/// checks the result as the view's.
pub(crate) async fn raw_per_event(
    db: &Db,
    data: &Data<'_>,
    connections: u32,
    batch: usize,
    budget: Duration,
) -> Result<Scaled> {
    let schema = db.schema("scale_raw");
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&db.admin)
        .await?;
    sqlx::query(&Statements::on(&format!("\"{schema}\".{TABLE}")).create)
        .execute(&db.admin)
        .await?;
    let events = format!("\"{}\".chronicle_events", data.store.schema());
    let pool = db.pool(connections).await?;
    db.checkpoint().await?;
    let cpu_before = Cpu::now();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for share in 0..connections {
        let filter = if connections > 1 {
            format!(" AND (partition_key % {connections}) = {share}")
        } else {
            String::new()
        };
        let read = format!(
            // The output column is not called `transaction_id`: `ORDER BY` would take that name
            // for it, which no index serves, and sort the rest of the log at every batch.
            "SELECT transaction_id::text::bigint AS tx, position, event_type, payload::text FROM {events} \
             WHERE (transaction_id, position) > ($1::bigint::text::xid8, $2::bigint){filter} \
             ORDER BY transaction_id, position LIMIT $3"
        );
        let table = format!("\"{schema}\".{TABLE}");
        let pool = pool.clone();
        let deadline = started + budget;
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            apply_share(&mut conn, &read, &table, batch, deadline).await
        }));
    }
    let mut applied = 0;
    for task in tasks {
        applied += task.await??;
    }
    let elapsed = started.elapsed();
    let busy_cpus = cpu_before.busy_since();
    pool.close().await;
    let (rows, balance, counted) = totals(db, &schema).await?;
    check("raw: events applied", counted, applied)?;
    if applied == data.events as i64 {
        check("raw: view rows", rows, data.accounts as i64)?;
        check("raw: total balance", balance, data.deposited)?;
    }
    db.drop_schema(&schema).await?;
    Ok(Scaled {
        elapsed,
        applied,
        workers: Vec::new(),
        busy_cpus,
    })
}

/// One raw connection's share: read a batch, apply it event by event, commit, until none is
/// left or the deadline has passed. Returns the events applied.
async fn apply_share(
    conn: &mut sqlx::PgConnection,
    read: &str,
    table: &str,
    batch: usize,
    deadline: Instant,
) -> Result<i64> {
    let Statements { insert, update, .. } = Statements::on(table);
    let (mut transaction_id, mut position) = (0i64, 0i64);
    let mut applied = 0;
    loop {
        let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(read)
            .bind(transaction_id)
            .bind(position)
            .bind(i64::try_from(batch)?)
            .fetch_all(&mut *conn)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(applied);
        };
        if Instant::now() > deadline {
            return Ok(applied);
        }
        (transaction_id, position) = (last.0, last.1);
        let mut tx = conn.begin().await?;
        for (_, _, event_type, payload) in &rows {
            let payload: Payload = serde_json::from_str(payload)?;
            if event_type == <bank::AccountOpened as chronicle::Event>::NAME {
                sqlx::query(&insert)
                    .bind(&payload.account_id)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query(&update)
                    .bind(&payload.account_id)
                    .bind(payload.amount)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        applied += rows.len() as i64;
    }
}
