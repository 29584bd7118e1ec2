//! Read models beyond the direct Postgres view, each caught up from empty over a loaded data set
//! next to a raw baseline of the same work: the portable `bank::views::AccountBalances` on a
//! `SqlReadStore` (over Postgres and over MariaDB), and a balance view in Redis.
//!
//! The raw baselines read the same events from the Postgres event table with plain sqlx, in
//! batches of the runner's size (`WHERE position > $1 ORDER BY position LIMIT $2`, every column
//! decoded and the payload parsed, as a subscriber must), group each batch into runs of one event
//! type as the runner does for batch handlers, and write what the view's handlers write, with the
//! target's own client: one `MULTI`/`EXEC` pipeline per batch for Redis, one transaction per batch
//! of multi-row `INSERT`s and `UPDATE ... CASE` statements for MariaDB. They record no checkpoint.
//! Each is measured twice: reading a batch, then writing it (the baseline the targets are set
//! against), and reading the next batch while one is written, as the runner does (the limit).

use std::time::{Duration, Instant};

use bank::views::net_changes;
use bank::{AccountOpened, MoneyDeposited, MoneyWithdrawn};
use chronicle::prelude::*;
use chronicle::redis::aio::MultiplexedConnection;
use chronicle::redis::{self, Cmd};
use chronicle::sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use chronicle::sqlx::postgres::PgRow;
use chronicle::sqlx::types::chrono::{DateTime, Utc};
use chronicle::sqlx::types::Json;
use chronicle::sqlx::{self, Connection as _, MySql, QueryBuilder, Row as _};
use chronicle::{Event, ProjectionError, ReadStoreError};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::db::{proc_status_kb, reset_peak_rss, trim_heap};
use crate::report::Sample;
use crate::Result;

/// The MariaDB server used unless `MYSQL_URL` says otherwise (a scratch database of the harness's
/// own is created on it for every measurement, and dropped after).
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
/// The Redis server used unless `REDIS_URL` says otherwise (keys under a prefix of the harness's
/// own, deleted after every measurement).
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The columns the raw readers decode, in the order [`decode_event`] reads them.
const READ_COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, event_version, \
                            payload, metadata, recorded_at, transaction_id::text::bigint";

/// How many rows one raw MariaDB statement writes at most: the portable view's chunk.
const ROWS_PER_STATEMENT: usize = 1_000;

/// What a catch-up runs over: the events of a loaded data set and what it deposited.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    /// Events in the data set.
    pub(crate) events: usize,
    /// Accounts opened (the view's rows).
    pub(crate) accounts: usize,
    /// The sum of all deposits (the view's total balance).
    pub(crate) deposited: i64,
    /// Events per read and per read-model transaction.
    pub(crate) batch: usize,
    /// How long one catch-up may take.
    pub(crate) budget: Duration,
}

/// The process's memory over one measurement, in kB.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    /// RSS at the start (after handing freed heap back).
    pub(crate) start_kb: u64,
    /// Peak RSS during the measurement.
    pub(crate) peak_kb: u64,
    /// Peak minus start (peak minus the earlier peak where the kernel cannot reset it).
    pub(crate) growth_kb: u64,
}

/// Watches the peak RSS from [`start`](Self::start) to [`finish`](Self::finish).
struct MemoryProbe {
    reset: bool,
    start_kb: u64,
    peak_before_kb: u64,
}

impl MemoryProbe {
    fn start() -> Self {
        trim_heap();
        let reset = reset_peak_rss();
        Self {
            reset,
            start_kb: proc_status_kb("VmRSS").unwrap_or(0),
            peak_before_kb: proc_status_kb("VmHWM").unwrap_or(0),
        }
    }

    fn finish(self) -> Memory {
        let peak_kb = proc_status_kb("VmHWM").unwrap_or(0);
        let growth_kb = if self.reset {
            peak_kb.saturating_sub(self.start_kb)
        } else {
            peak_kb.saturating_sub(self.peak_before_kb)
        };
        Memory {
            start_kb: self.start_kb,
            peak_kb,
            growth_kb,
        }
    }
}

/// One catch-up, by a runner or a raw baseline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CatchUp {
    /// Events applied (all of them unless the budget ran out).
    pub(crate) applied: usize,
    /// From the start to caught up (or to the end of the budget).
    pub(crate) elapsed: Duration,
    /// The process's memory meanwhile.
    pub(crate) memory: Memory,
}

impl CatchUp {
    /// Whether every event of `target` was applied.
    pub(crate) fn finished(&self, target: &Target) -> bool {
        self.applied >= target.events
    }

    /// Events per second.
    pub(crate) fn rate(&self) -> f64 {
        self.applied as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The report's sample: the rate, the memory figures, and a remark when the budget ran out.
    pub(crate) fn sample(&self, target: &Target) -> Sample {
        let mut sample = Sample::timed(self.applied, self.elapsed, Vec::new());
        if !self.finished(target) {
            sample = sample.remark(format!(
                "**did not catch up within the {} s budget**: {} of {} events applied (rate = applied / budget; not run again)",
                target.budget.as_secs(),
                crate::number(self.applied as f64),
                crate::number(target.events as f64)
            ));
        }
        sample
            .with("RSS at start (MiB)", self.memory.start_kb as f64 / 1024.0)
            .with("peak RSS (MiB)", self.memory.peak_kb as f64 / 1024.0)
            .with("peak − start (MiB)", self.memory.growth_kb as f64 / 1024.0)
            .with("_events", target.events as f64)
            .with("_applied", self.applied as f64)
    }
}

/// Runs `projection` from `source` into `read` until caught up with the head (or the budget runs
/// out), then stops it.
pub(crate) async fn run_projection<P: Projection>(
    source: &PostgresStore,
    read: P::Store,
    projection: P,
    target: &Target,
) -> Result<CatchUp> {
    let probe = MemoryProbe::start();
    let started = Instant::now();
    let handle = ProjectionRunner::new(source.clone(), read, projection)
        .batch_size(target.batch)
        .spawn();
    let outcome = handle.wait_until_caught_up(target.budget).await;
    let elapsed = started.elapsed();
    let memory = probe.finish();
    let applied = match outcome {
        Ok(()) => target.events,
        Err(ProjectionError::Timeout { ready, held_back, .. }) => {
            target.events.saturating_sub(usize::try_from(ready + held_back)?)
        }
        Err(other) => return Err(other.into()),
    };
    handle.stop().await.into_result()?;
    Ok(CatchUp {
        applied,
        elapsed,
        memory,
    })
}

// -------------------------------------------------------------------------------------------
// the raw reader

/// A bank event read back by the raw baselines.
enum BankEvent {
    Opened(AccountOpened),
    Deposited(MoneyDeposited),
    Withdrawn(MoneyWithdrawn),
}

/// A run of consecutive events of one type within a batch: what a batch handler is handed.
enum Run {
    Opened(Vec<AccountOpened>),
    Deposited(Vec<MoneyDeposited>),
    Withdrawn(Vec<MoneyWithdrawn>),
}

/// Appends `event` to the last run if it is of the same type, else starts a run.
fn push_run(runs: &mut Vec<Run>, event: BankEvent) {
    match (runs.last_mut(), event) {
        (Some(Run::Opened(run)), BankEvent::Opened(e)) => run.push(e),
        (Some(Run::Deposited(run)), BankEvent::Deposited(e)) => run.push(e),
        (Some(Run::Withdrawn(run)), BankEvent::Withdrawn(e)) => run.push(e),
        (_, BankEvent::Opened(e)) => runs.push(Run::Opened(vec![e])),
        (_, BankEvent::Deposited(e)) => runs.push(Run::Deposited(vec![e])),
        (_, BankEvent::Withdrawn(e)) => runs.push(Run::Withdrawn(vec![e])),
    }
}

/// Decodes every column of an event row and parses its payload; returns its position and the
/// event (`None` for a type the bank's views do not handle).
fn decode_event(row: &PgRow) -> Result<(i64, Option<BankEvent>)> {
    let position: i64 = row.try_get(0)?;
    let stream_id: String = row.try_get(1)?;
    let stream_version: i64 = row.try_get(2)?;
    let event_id: Uuid = row.try_get(3)?;
    let event_type: String = row.try_get(4)?;
    let event_version: i32 = row.try_get(5)?;
    let payload: Json<Box<RawValue>> = row.try_get(6)?;
    let metadata: Json<Box<RawValue>> = row.try_get(7)?;
    let recorded_at: DateTime<Utc> = row.try_get(8)?;
    let transaction_id: i64 = row.try_get(9)?;
    std::hint::black_box((
        &stream_id,
        stream_version,
        event_id,
        event_version,
        &metadata,
        recorded_at,
        transaction_id,
    ));
    let json = payload.get();
    let event = match event_type.as_str() {
        AccountOpened::NAME => Some(BankEvent::Opened(serde_json::from_str(json)?)),
        MoneyDeposited::NAME => Some(BankEvent::Deposited(serde_json::from_str(json)?)),
        MoneyWithdrawn::NAME => Some(BankEvent::Withdrawn(serde_json::from_str(json)?)),
        _ => None,
    };
    Ok((position, event))
}

/// Reads a store's events in position order, a batch at a time, on a connection of its own.
struct RawReader {
    connection: sqlx::PgConnection,
    sql: String,
    after: i64,
    batch: usize,
}

impl RawReader {
    async fn open(source: &PostgresStore, batch: usize) -> Result<Self> {
        let connection = source.pool().acquire().await?.detach();
        Ok(Self {
            connection,
            sql: format!(
                "SELECT {READ_COLUMNS} FROM \"{}\".chronicle_events WHERE position > $1 ORDER BY position LIMIT $2",
                source.schema()
            ),
            after: 0,
            batch,
        })
    }

    /// The next batch as runs of one event type, with how many events it held (0 at the end).
    async fn next(&mut self) -> Result<(usize, Vec<Run>)> {
        let rows = sqlx::query(&self.sql)
            .bind(self.after)
            .bind(i64::try_from(self.batch)?)
            .fetch_all(&mut self.connection)
            .await?;
        let mut runs = Vec::new();
        for row in &rows {
            let (position, event) = decode_event(row)?;
            self.after = position;
            if let Some(event) = event {
                push_run(&mut runs, event);
            }
        }
        Ok((rows.len(), runs))
    }

    async fn close(self) -> Result<()> {
        self.connection.close().await?;
        Ok(())
    }
}

/// What a raw baseline writes a batch's runs with.
trait RawWriter {
    /// Writes the runs of one batch, in order.
    async fn write(&mut self, runs: &[Run]) -> Result<()>;
}

/// How a raw baseline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Reads a batch, then writes it, then reads the next.
    Sequential,
    /// Reads the next batch (in a task of its own) while the last one is written, as the runner
    /// does.
    Ahead,
}

/// Reads every event of `source` in batches and hands each batch's runs to `writer`, until the
/// log ends or the budget runs out.
async fn raw_catch_up(
    source: &PostgresStore,
    target: &Target,
    reading: Reading,
    writer: &mut impl RawWriter,
) -> Result<CatchUp> {
    let mut reader = RawReader::open(source, target.batch).await?;
    let probe = MemoryProbe::start();
    let started = Instant::now();
    let mut applied = 0;
    match reading {
        Reading::Sequential => {
            loop {
                let (read, runs) = reader.next().await?;
                if read == 0 {
                    break;
                }
                writer.write(&runs).await?;
                applied += read;
                if started.elapsed() > target.budget {
                    break;
                }
            }
            reader.close().await?;
        }
        Reading::Ahead => {
            // One batch waits in the channel while the next is read.
            let (batches, mut next) = tokio::sync::mpsc::channel::<(usize, Vec<Run>)>(1);
            let reading = tokio::spawn(async move {
                loop {
                    let batch = reader.next().await?;
                    let end = batch.0 == 0;
                    if end || batches.send(batch).await.is_err() {
                        break;
                    }
                }
                reader.close().await
            });
            let written: Result<()> = async {
                while let Some((read, runs)) = next.recv().await {
                    writer.write(&runs).await?;
                    applied += read;
                    if started.elapsed() > target.budget {
                        break;
                    }
                }
                Ok(())
            }
            .await;
            drop(next);
            let read = reading.await;
            written?;
            read??;
        }
    }
    let elapsed = started.elapsed();
    let memory = probe.finish();
    Ok(CatchUp {
        applied,
        elapsed,
        memory,
    })
}

// -------------------------------------------------------------------------------------------
// Redis

/// The keys of a balance view in Redis.
#[derive(Debug, Clone)]
pub(crate) struct RedisKeys {
    /// A hash: account id → balance.
    pub(crate) balances: String,
    /// A hash: account id → owner.
    pub(crate) owners: String,
}

impl RedisKeys {
    /// The view's keys under `prefix`.
    pub(crate) fn under(prefix: &str, view: &str) -> Self {
        Self {
            balances: format!("{prefix}:{view}:balances"),
            owners: format!("{prefix}:{view}:owners"),
        }
    }
}

/// The commands for a run of openings: every owner in one `HSET`, every balance set to 0 in
/// another.
fn opened_commands(keys: &RedisKeys, opened: &[AccountOpened]) -> [Cmd; 2] {
    let mut owners = redis::cmd("HSET");
    owners.arg(&keys.owners);
    let mut balances = redis::cmd("HSET");
    balances.arg(&keys.balances);
    for e in opened {
        owners.arg(&e.account_id).arg(&e.owner);
        balances.arg(&e.account_id).arg(0);
    }
    [owners, balances]
}

/// One `HINCRBY` per account and net change of a run.
fn change_commands<'a>(keys: &'a RedisKeys, changes: &'a [(&str, i64)]) -> impl Iterator<Item = Cmd> + 'a {
    changes.iter().map(|(account_id, change)| {
        let mut command = redis::cmd("HINCRBY");
        command.arg(&keys.balances).arg(*account_id).arg(*change);
        command
    })
}

/// The commands a run becomes in the Redis view (the projection's and the raw baseline's alike).
fn run_commands(keys: &RedisKeys, run: &Run) -> Vec<Cmd> {
    match run {
        Run::Opened(events) => opened_commands(keys, events).into(),
        Run::Deposited(events) => {
            let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
            change_commands(keys, &changes).collect()
        }
        Run::Withdrawn(events) => {
            let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
            change_commands(keys, &changes).collect()
        }
    }
}

/// The bank's balances in Redis: each account's balance a field of one hash (`HINCRBY` per net
/// change of a run), its owner a field of another (on `AccountOpened`). Batch handlers: a batch
/// is one `MULTI`/`EXEC` with the checkpoint.
pub(crate) struct RedisBalances {
    /// Where the view lives.
    pub(crate) keys: RedisKeys,
}

#[chronicle::projection(name = "bench.redis_balances", version = 1)]
impl RedisBalances {
    #[reset]
    async fn reset(&self, db: &mut RedisWrites) -> Result<(), ReadStoreError> {
        db.queue(redis::cmd("DEL").arg(&self.keys.balances).arg(&self.keys.owners))?;
        Ok(())
    }

    #[on]
    async fn opened(&self, events: &[AccountOpened], db: &mut RedisWrites) -> Result<(), ReadStoreError> {
        for command in opened_commands(&self.keys, events) {
            db.queue(&command)?;
        }
        Ok(())
    }

    #[on]
    async fn deposited(&self, events: &[MoneyDeposited], db: &mut RedisWrites) -> Result<(), ReadStoreError> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
        for command in change_commands(&self.keys, &changes) {
            db.queue(&command)?;
        }
        Ok(())
    }

    #[on]
    async fn withdrawn(&self, events: &[MoneyWithdrawn], db: &mut RedisWrites) -> Result<(), ReadStoreError> {
        let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
        for command in change_commands(&self.keys, &changes) {
            db.queue(&command)?;
        }
        Ok(())
    }
}

/// A connection to the Redis server at `url`.
pub(crate) async fn redis_connection(url: &str) -> Result<MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("cannot reach Redis at {url}: {e}").into())
}

/// The raw Redis baseline: the same commands as [`RedisBalances`], sent per batch as one
/// `MULTI`/`EXEC` pipeline.
pub(crate) async fn raw_redis(
    source: &PostgresStore,
    target: &Target,
    reading: Reading,
    connection: &MultiplexedConnection,
    keys: &RedisKeys,
) -> Result<CatchUp> {
    let mut connection = connection.clone();
    let _: () = redis::cmd("DEL")
        .arg(&keys.balances)
        .arg(&keys.owners)
        .query_async(&mut connection)
        .await?;
    raw_catch_up(source, target, reading, &mut RawRedis { connection, keys }).await
}

/// The raw Redis writer.
struct RawRedis<'k> {
    connection: MultiplexedConnection,
    keys: &'k RedisKeys,
}

impl RawWriter for RawRedis<'_> {
    async fn write(&mut self, runs: &[Run]) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for run in runs {
            for command in run_commands(self.keys, run) {
                pipe.add_command(command).ignore();
            }
        }
        let _: () = pipe.query_async(&mut self.connection).await?;
        Ok(())
    }
}

/// The number of accounts and the sum of the balances in a Redis view, and the number of owners.
pub(crate) async fn redis_view(
    connection: &MultiplexedConnection,
    keys: &RedisKeys,
) -> Result<(i64, i64, i64)> {
    let mut connection = connection.clone();
    let balances: Vec<i64> = redis::cmd("HVALS")
        .arg(&keys.balances)
        .query_async(&mut connection)
        .await?;
    let owners: i64 = redis::cmd("HLEN")
        .arg(&keys.owners)
        .query_async(&mut connection)
        .await?;
    Ok((i64::try_from(balances.len())?, balances.iter().sum(), owners))
}

/// Deletes every key under `prefix` (`SCAN` + `DEL`).
pub(crate) async fn delete_redis_keys(connection: &MultiplexedConnection, prefix: &str) -> Result<()> {
    let mut connection = connection.clone();
    let pattern = format!("{prefix}:*");
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(keys).query_async(&mut connection).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// The server's version and persistence settings, for the notes.
pub(crate) async fn redis_settings(connection: &MultiplexedConnection) -> Result<String> {
    let mut connection = connection.clone();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut connection)
        .await?;
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .trim()
        .to_owned();
    let appendonly: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query_async(&mut connection)
        .await?;
    let save: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(&mut connection)
        .await?;
    Ok(format!(
        "Redis {version}, appendonly={}, save=\"{}\"",
        appendonly.get(1).map_or("?", String::as_str),
        save.get(1).map_or("?", String::as_str)
    ))
}

// -------------------------------------------------------------------------------------------
// MariaDB

/// A scratch database of the harness's own on a MariaDB server, dropped by [`drop`](Self::drop).
pub(crate) struct ScratchDatabase {
    /// A pool on the scratch database.
    pub(crate) pool: MySqlPool,
    admin: MySqlPool,
    name: String,
}

impl ScratchDatabase {
    /// Creates a fresh database (`chb_<random>`) on the server at `url`, with a pool of `size`
    /// connections on it.
    pub(crate) async fn create(url: &str, size: u32) -> Result<Self> {
        let options: MySqlConnectOptions = url.parse()?;
        let admin = MySqlPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(|e| format!("cannot reach MariaDB at {url}: {e}"))?;
        let name = format!("chb_{}", &Uuid::new_v4().simple().to_string()[..10]);
        sqlx::raw_sql(&format!("CREATE DATABASE `{name}`"))
            .execute(&admin)
            .await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(size)
            .connect_with(options.database(&name))
            .await?;
        Ok(Self { pool, admin, name })
    }

    /// Closes the pool and drops the database.
    pub(crate) async fn drop(self) -> Result<()> {
        self.pool.close().await;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .execute(&self.admin)
            .await?;
        self.admin.close().await;
        Ok(())
    }

    /// The number of rows and the sum of the balances in `table`.
    pub(crate) async fn balances(&self, table: &str) -> Result<(i64, i64)> {
        Ok(sqlx::query_as(&format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(balance), 0) AS SIGNED) FROM {table}"
        ))
        .fetch_one(&self.pool)
        .await?)
    }

    /// The server's version and durability settings, for the notes.
    pub(crate) async fn settings(&self) -> Result<String> {
        let (version, flush, binlog): (String, String, String) = sqlx::query_as(
            "SELECT VERSION(), CAST(@@innodb_flush_log_at_trx_commit AS CHAR), CAST(@@log_bin AS CHAR)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(format!(
            "MariaDB {version}, innodb_flush_log_at_trx_commit={flush}, log_bin={binlog}"
        ))
    }
}

/// The raw MariaDB baseline's table: the portable view's, by another name.
pub(crate) const RAW_MYSQL_TABLE: &str = "raw_account_balances";

/// The raw MariaDB baseline: the rows of `bank::views::AccountBalances`, written with plain sqlx
/// in one transaction per batch (a multi-row `INSERT` per run of openings, an `UPDATE ... CASE`
/// per run of deposits, 1,000 rows per statement at most, as the view does).
pub(crate) async fn raw_mariadb(
    source: &PostgresStore,
    target: &Target,
    reading: Reading,
    database: &ScratchDatabase,
) -> Result<CatchUp> {
    sqlx::raw_sql(&format!(
        "DROP TABLE IF EXISTS {RAW_MYSQL_TABLE}; \
         CREATE TABLE {RAW_MYSQL_TABLE} (account_id VARCHAR(200) PRIMARY KEY, \
             owner TEXT NOT NULL, balance BIGINT NOT NULL, overdraft_limit BIGINT NOT NULL)"
    ))
    .execute(&database.pool)
    .await?;
    let connection = database.pool.acquire().await?.detach();
    let mut writer = RawMariaDb { connection };
    let outcome = raw_catch_up(source, target, reading, &mut writer).await;
    writer.connection.close().await?;
    outcome
}

/// The raw MariaDB writer, on a connection of its own.
struct RawMariaDb {
    connection: sqlx::MySqlConnection,
}

impl RawWriter for RawMariaDb {
    async fn write(&mut self, runs: &[Run]) -> Result<()> {
        let mut transaction = self.connection.begin().await?;
        for run in runs {
            match run {
                Run::Opened(events) => {
                    for chunk in events.chunks(ROWS_PER_STATEMENT) {
                        let mut insert = QueryBuilder::<MySql>::new(format!(
                            "INSERT INTO {RAW_MYSQL_TABLE} (account_id, owner, balance, overdraft_limit) "
                        ));
                        insert.push_values(chunk, |mut row, e| {
                            row.push_bind(&e.account_id)
                                .push_bind(&e.owner)
                                .push("0")
                                .push_bind(e.overdraft_limit);
                        });
                        insert.build().execute(&mut *transaction).await?;
                    }
                }
                Run::Deposited(events) => {
                    let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), e.amount)));
                    add_to_balances(&mut transaction, &changes).await?;
                }
                Run::Withdrawn(events) => {
                    let changes = net_changes(events.iter().map(|e| (e.account_id.as_str(), -e.amount)));
                    add_to_balances(&mut transaction, &changes).await?;
                }
            }
        }
        transaction.commit().await?;
        Ok(())
    }
}

/// Adds each account's net change to its balance: one `UPDATE ... CASE` per 1,000 accounts.
async fn add_to_balances(connection: &mut sqlx::MySqlConnection, changes: &[(&str, i64)]) -> Result<()> {
    for chunk in changes.chunks(ROWS_PER_STATEMENT) {
        let mut update = QueryBuilder::<MySql>::new(format!(
            "UPDATE {RAW_MYSQL_TABLE} SET balance = balance + CASE account_id"
        ));
        for (account_id, change) in chunk {
            update
                .push(" WHEN ")
                .push_bind(*account_id)
                .push(" THEN ")
                .push_bind(*change);
        }
        update.push(" END WHERE account_id IN (");
        let mut ids = update.separated(", ");
        for (account_id, _) in chunk {
            ids.push_bind(*account_id);
        }
        update.push(")");
        update.build().execute(&mut *connection).await?;
    }
    Ok(())
}
