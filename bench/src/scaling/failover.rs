//! Failover time: worker processes of a partitioned view keep up with a live stream of
//! deposits; one is killed (`kill -9`) or paused (`SIGSTOP`) at a random moment, and the time is
//! taken from then until every partition's checkpoint has advanced again: the dead worker's
//! partitions once another worker took them over, the others' at their next batch.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chronicle::sqlx;
use chronicle::{EventSource, PostgresReadStore, PostgresStore, ReadSide};

use super::processes::{finish_all, start_all, Process};
use super::views::{totals, PerEventBalances};
use super::worker::{View, Worker};
use crate::db::{account_id, Db, EventRows, Rng};
use crate::Result;

/// Deposits the live writer appends per transaction, and how often.
const WRITE_BATCH: usize = 20;
const WRITE_EVERY: Duration = Duration::from_millis(10);

/// How the failover measurement runs.
pub(crate) struct Settings<'a> {
    pub(crate) exe: &'a Path,
    pub(crate) database_url: &'a str,
    pub(crate) workers: usize,
    pub(crate) partitions: u32,
    pub(crate) accounts: usize,
    pub(crate) lease: Duration,
    pub(crate) poll: Duration,
    pub(crate) kills: usize,
    pub(crate) pauses: usize,
    pub(crate) seed: u64,
}

/// The failover times measured; a takeover that did not happen within the timeout is counted
/// in `missed` instead.
#[derive(Debug, Default)]
pub(crate) struct Failovers {
    pub(crate) kills: Vec<Duration>,
    pub(crate) pauses: Vec<Duration>,
    pub(crate) missed: usize,
    /// Events the writer appended, all applied once by the end.
    pub(crate) events: i64,
}

/// Runs the kills and pauses, then checks the view: every event applied once.
pub(crate) async fn measure(db: &Db, settings: &Settings<'_>) -> Result<Failovers> {
    let store = db.event_store("failover", 2).await?;
    let table = format!("\"{}\".chronicle_events", store.schema());
    let mut rows = EventRows::with_capacity(settings.accounts);
    for n in 0..settings.accounts {
        rows.open(&account_id(n))?;
    }
    rows.insert_all(&table, &mut *store.pool().acquire().await?)
        .await?;
    store.prepare_partitions(settings.partitions).await?;
    let read_schema = db.schema("failover_view");
    let read = PostgresReadStore::from_pool(db.pool(2).await?).with_schema(&read_schema)?;
    read.migrate().await?;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_deposits(
        store.clone(),
        table,
        settings.accounts,
        settings.seed,
        stop.clone(),
    ));
    let worker = Worker {
        database_url: settings.database_url.to_owned(),
        events_schema: store.schema().to_owned(),
        read_schema: read_schema.clone(),
        view: View::PerEvent,
        partitions: settings.partitions,
        batch: chronicle::DEFAULT_BATCH_SIZE,
        lease: settings.lease,
        poll: settings.poll,
        lifetime: Duration::from_secs(600),
    };
    let side = ReadSide::new(store.clone(), read.clone());
    let mut processes = start_all(&worker, settings.exe, settings.workers).await?;
    side.wait_for::<PerEventBalances>(store.head().await?.position, Duration::from_secs(60))
        .await?;

    let names: Vec<String> = (0..settings.partitions)
        .map(|i| {
            format!(
                "{}/{i}-of-{}",
                View::PerEvent.projection_name(),
                settings.partitions
            )
        })
        .collect();
    // A takeover later than this counts as missed (and is far past the target).
    let timeout = settings.lease * 3 + settings.poll * 10 + Duration::from_secs(5);
    let settle = settings.poll * 5 + Duration::from_secs(1);
    let mut rng = Rng::new(settings.seed);
    let mut failovers = Failovers::default();
    for _ in 0..settings.kills {
        tokio::time::sleep(Duration::from_millis(200 + rng.below(500) as u64)).await;
        let victim = processes.swap_remove(rng.below(processes.len()));
        let killed = Instant::now();
        victim.kill().await?;
        match until_every_partition_advances(db, &read_schema, &names, killed, timeout).await? {
            Some(took) => failovers.kills.push(took),
            None => failovers.missed += 1,
        }
        let mut replacement = Process::start(&worker, settings.exe)?;
        replacement.ready().await?;
        processes.push(replacement);
        tokio::time::sleep(settle).await;
    }
    for _ in 0..settings.pauses {
        tokio::time::sleep(Duration::from_millis(200 + rng.below(500) as u64)).await;
        let victim = &processes[rng.below(processes.len())];
        let paused = Instant::now();
        victim.signal("STOP").await?;
        let took = until_every_partition_advances(db, &read_schema, &names, paused, timeout).await;
        victim.signal("CONT").await?;
        match took? {
            Some(took) => failovers.pauses.push(took),
            None => failovers.missed += 1,
        }
        // The resumed worker finds its sessions ended by the server and joins again.
        tokio::time::sleep(settle + settings.lease).await;
    }

    stop.store(true, Ordering::Relaxed);
    let (events, deposited) = writer.await??;
    side.wait_for::<PerEventBalances>(store.head().await?.position, Duration::from_secs(120))
        .await?;
    finish_all(processes).await?;
    let (rows, balance, applied) = totals(db, &read_schema).await?;
    let expected = settings.accounts as i64 + events;
    if (rows, balance, applied) != (settings.accounts as i64, deposited, expected) {
        return Err(format!(
            "failover: the view has {rows} rows, balance {balance}, {applied} applications; \
             expected {} rows, balance {deposited}, {expected} (each event once)",
            settings.accounts
        )
        .into());
    }
    failovers.events = expected;
    read.pool().close().await;
    db.drop_schema(&read_schema).await?;
    db.drop_store(store).await?;
    Ok(failovers)
}

/// Appends deposits on random accounts until `stop`; returns how many and their total.
async fn write_deposits(
    store: PostgresStore,
    table: String,
    accounts: usize,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Result<(i64, i64)> {
    let mut conn = store.pool().acquire().await?;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut versions = vec![1i64; accounts];
    let (mut events, mut deposited) = (0i64, 0i64);
    while !stop.load(Ordering::Relaxed) {
        let mut rows = EventRows::with_capacity(WRITE_BATCH);
        for _ in 0..WRITE_BATCH {
            let a = rng.below(accounts);
            versions[a] += 1;
            let amount = 1 + rng.below(1000) as i64;
            rows.deposit(&account_id(a), versions[a], amount)?;
            deposited += amount;
        }
        rows.insert_all(&table, &mut conn).await?;
        events += WRITE_BATCH as i64;
        tokio::time::sleep(WRITE_EVERY).await;
    }
    Ok((events, deposited))
}

/// The time from `since` until each partition's checkpoint differs from what it was when this
/// was called; `None` after `timeout`.
async fn until_every_partition_advances(
    db: &Db,
    schema: &str,
    names: &[String],
    since: Instant,
    timeout: Duration,
) -> Result<Option<Duration>> {
    let sql = format!(
        "SELECT projection, transaction_id::text || '/' || position::text FROM \"{schema}\".chronicle_checkpoints \
         WHERE projection = ANY($1)"
    );
    let read = || async {
        let rows: Vec<(String, String)> = sqlx::query_as(&sql).bind(names).fetch_all(&db.admin).await?;
        Ok::<_, crate::Error>(
            names
                .iter()
                .map(|name| rows.iter().find(|(n, _)| n == name).map(|(_, at)| at.clone()))
                .collect::<Vec<_>>(),
        )
    };
    let before = read().await?;
    let mut advanced = vec![false; names.len()];
    loop {
        let now = read().await?;
        for (i, at) in now.iter().enumerate() {
            advanced[i] |= *at != before[i];
        }
        if advanced.iter().all(|&a| a) {
            return Ok(Some(since.elapsed()));
        }
        if since.elapsed() > timeout {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
