//! The scenarios. Each run of each one works in fresh schemas and records one sample per row;
//! each checks its counts (events appended, view contents) and fails the harness when they are
//! wrong, so that a fast but wrong figure is never printed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bank::views::postgres::{AccountBalances, BalanceOf};
use bank::{Account, Deposit, OpenAccount};
use chronicle::sqlx::postgres::PgRow;
use chronicle::sqlx::types::chrono::{DateTime, Utc};
use chronicle::sqlx::types::Json;
use chronicle::sqlx::{self, Row as _};
use chronicle::{
    Chronicle, CommandError, EventSource, EventStore, GroupCommit, MySqlReadStore, PostgresReadStore,
    PostgresStore, ProjectionError, ProjectionRunner, ReadSide, Receipt, RedisReadStore, SqlReadStore,
};
use futures_util::TryStreamExt;
use serde_json::value::RawValue;
use tokio::sync::Barrier;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::counting::CountingStore;
use crate::db::{account_id, account_stream, proc_status_kb, reset_peak_rss, trim_heap, Db, EventRows, Rng};
use crate::polyglot::{self, CatchUp, Reading, RedisBalances, RedisKeys, ScratchDatabase, Target};
use crate::report::{number, Compare, Report, Sample, Section};
use crate::scaling::{self, catch_up as scale, View};
use crate::{brokers, end_to_end, overhead};
use crate::{Config, Result};

/// Rows per `INSERT ... UNNEST` when loading data sets.
const BULK_CHUNK: usize = 10_000;
/// How far behind the head the aggregate-load snapshot is taken.
const SNAPSHOT_BEHIND: usize = 99;
/// The accounts' overdraft limit, and what `owner` the harness opens them with.
const OVERDRAFT: i64 = 100;
/// The connections of the wide raw baseline (ii''), which the commands of as many clients compare
/// with.
const RAW_WIDE: usize = 32;
/// How long read-your-writes may wait for one command.
const RYW_TIMEOUT: Duration = Duration::from_secs(30);

/// The columns every read decodes, in the order `decode_row` reads them.
const READ_COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, event_version, \
                            payload, metadata, recorded_at, transaction_id::text::bigint";

/// The columns an aggregate load reads (Chronicle's light stream read), in the order
/// `decode_load_row` reads them.
const LOAD_COLUMNS: &str = "position, stream_version, event_type, event_version, payload, recorded_at";

/// A catch-up data set: events bulk-loaded once, replayed by a fresh read model in every run.
struct Dataset {
    store: PostgresStore,
    accounts: usize,
    deposited: i64,
    /// A run did not catch up within the budget: later runs are skipped.
    timed_out: bool,
}

/// The harness's state across runs.
pub(crate) struct Bench {
    cfg: Config,
    db: Db,
    /// A schema with a migrated `chronicle_events`, which the raw tables copy.
    template: Option<String>,
    datasets: BTreeMap<usize, Dataset>,
    /// Measurements (`<scenario>.<events>`) that did not finish within the budget: not run again.
    gave_up: BTreeSet<String>,
    started: Instant,
}

macro_rules! progress {
    ($bench:expr, $($arg:tt)*) => {
        eprintln!("[{:>7.1} s] {}", $bench.started.elapsed().as_secs_f64(), format_args!($($arg)*))
    };
}

fn clients_label(clients: usize) -> String {
    if clients == 1 {
        "1 client".to_owned()
    } else {
        format!("{clients} clients")
    }
}

/// Waits for spawned tasks, failing on the first error.
async fn join_all<T>(handles: Vec<JoinHandle<Result<T>>>) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await??);
    }
    Ok(out)
}

/// Checks a count; a mismatch fails the harness.
fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, actual: T, expected: T) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, found {actual:?}").into())
    }
}

/// Decodes every column of an event row, as a subscriber must; returns a checksum.
fn decode_row(row: &PgRow) -> Result<usize> {
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
    Ok((position as usize)
        .wrapping_add(stream_id.len())
        .wrapping_add(stream_version as usize)
        .wrapping_add(event_id.as_bytes()[0] as usize)
        .wrapping_add(event_type.len() + event_version as usize)
        .wrapping_add(payload.get().len() + metadata.get().len())
        .wrapping_add(recorded_at.timestamp_subsec_micros() as usize)
        .wrapping_add(transaction_id as usize))
}

/// Decodes the columns of [`LOAD_COLUMNS`]; returns a checksum.
fn decode_load_row(row: &PgRow) -> Result<usize> {
    let position: i64 = row.try_get(0)?;
    let stream_version: i64 = row.try_get(1)?;
    let event_type: String = row.try_get(2)?;
    let event_version: i32 = row.try_get(3)?;
    let payload: Json<Box<RawValue>> = row.try_get(4)?;
    let recorded_at: DateTime<Utc> = row.try_get(5)?;
    Ok((position as usize)
        .wrapping_add(stream_version as usize)
        .wrapping_add(event_type.len() + event_version as usize)
        .wrapping_add(payload.get().len())
        .wrapping_add(recorded_at.timestamp_subsec_micros() as usize))
}

/// Events of each type and the sum of deposits in a store's table.
async fn event_counts(db: &Db, store: &PostgresStore) -> Result<(i64, i64, i64)> {
    let sql = format!(
        "SELECT count(*) FILTER (WHERE event_type = 'bank.AccountOpened'), \
                count(*) FILTER (WHERE event_type = 'bank.MoneyDeposited'), \
                COALESCE(sum((payload->>'amount')::bigint) FILTER (WHERE event_type = 'bank.MoneyDeposited'), 0)::bigint \
         FROM \"{}\".chronicle_events",
        store.schema()
    );
    Ok(sqlx::query_as(&sql).fetch_one(&db.admin).await?)
}

impl Bench {
    pub(crate) fn new(cfg: Config, db: Db) -> Self {
        Self {
            cfg,
            db,
            template: None,
            datasets: BTreeMap::new(),
            gave_up: BTreeSet::new(),
            started: Instant::now(),
        }
    }

    pub(crate) async fn run_all(&mut self, report: &mut Report) -> Result<()> {
        let cfg = self.cfg.clone();
        for run in 1..=cfg.runs {
            progress!(self, "run {run} of {}", cfg.runs);
            if cfg.wants("raw") {
                self.raw(report).await?;
            }
            if cfg.wants("commands") {
                for &clients in &cfg.clients {
                    self.commands(clients, false, report).await?;
                }
                for &clients in cfg.clients.iter().filter(|&&c| c > 1) {
                    self.commands(clients, true, report).await?;
                }
            }
            if cfg.wants("contention") {
                self.contention(report).await?;
            }
            if cfg.wants("load") {
                self.load(report).await?;
            }
            if cfg.wants("catchup") {
                for &events in &cfg.catchup_events {
                    self.catch_up(events, report).await?;
                }
            }
            if cfg.wants("overhead") {
                self.overhead(report).await?;
            }
            if cfg.wants("portability") {
                for &events in &cfg.catchup_events {
                    self.portability(events, run, report).await?;
                }
            }
            if cfg.wants("redis") {
                for &events in &cfg.redis_events {
                    self.redis(events, run, report).await?;
                }
            }
            if cfg.wants("mariadb") {
                for &events in &cfg.mariadb_events {
                    self.mariadb(events, run, report).await?;
                }
            }
            if cfg.wants("scale") {
                self.scale_out(report).await?;
            }
            if cfg.wants("failover") {
                self.failover(report).await?;
            }
            if cfg.wants("ryw") {
                self.read_your_writes(report).await?;
            }
            if cfg.wants("relay") {
                self.relays(report).await?;
            }
            if cfg.wants("e2e") {
                self.end_to_end(report).await?;
            }
        }
        Ok(())
    }

    /// Closes the data sets' pools and drops every schema the harness created.
    pub(crate) async fn cleanup(&mut self) -> Result<()> {
        for (_, dataset) in std::mem::take(&mut self.datasets) {
            dataset.store.pool().close().await;
        }
        self.db.drop_all().await?;
        self.db.admin.close().await;
        Ok(())
    }

    /// The schema whose `chronicle_events` the raw tables copy (`LIKE ... INCLUDING ALL`: the
    /// same columns, defaults, identity, constraints and indexes; not the triggers).
    async fn template(&mut self) -> Result<String> {
        if let Some(schema) = &self.template {
            return Ok(schema.clone());
        }
        let store = self.db.event_store("template", 1).await?;
        store.pool().close().await;
        let schema = store.schema().to_owned();
        self.template = Some(schema.clone());
        Ok(schema)
    }

    // ---------------------------------------------------------------------------------------
    // raw baseline

    async fn raw(&mut self, report: &mut Report) -> Result<()> {
        let cfg = self.cfg.clone();
        let template = self.template().await?;
        let schema = self.db.schema("raw");
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&self.db.admin)
            .await?;
        let table = format!("\"{schema}\".events");
        let recreate = format!(
            "DROP TABLE IF EXISTS {table}; \
             CREATE TABLE {table} (LIKE \"{template}\".chronicle_events INCLUDING ALL)"
        );
        let pool = self.db.pool(cfg.raw_connections.max(RAW_WIDE) as u32).await?;
        let insert_one = EventRows::insert_one_sql(&table);

        // (i) one event per transaction, one connection
        sqlx::raw_sql(&recreate).execute(&self.db.admin).await?;
        let rows = deposit_rows("one", cfg.raw_single, 1_000, 1)?;
        let mut conn = pool.acquire().await?;
        warm_up(&insert_one, &mut conn, "warm").await?;
        self.db.checkpoint().await?;
        progress!(
            self,
            "raw (i): {} single-event inserts, 1 connection",
            number(cfg.raw_single as f64)
        );
        let mut latencies = Vec::with_capacity(cfg.raw_single);
        let started = Instant::now();
        for i in 0..rows.len() {
            let t = Instant::now();
            rows.insert_one(&insert_one, i, &mut conn).await?;
            latencies.push(t.elapsed());
        }
        let sample = Sample::timed(rows.len(), started.elapsed(), latencies);
        report.add(
            "raw.single",
            Section::Raw,
            "raw (i): 1 event per transaction (autocommit INSERT), 1 connection".to_owned(),
            "events/s",
            Compare::Baseline("raw (i)"),
            sample,
        );
        drop(conn);

        // (ii) one event per transaction, several connections; (ii') the same on a table with a
        // statement-level NOTIFY trigger like Chronicle's
        sqlx::raw_sql(&recreate).execute(&self.db.admin).await?;
        let sample = self
            .raw_concurrent(&pool, &insert_one, cfg.raw_connections)
            .await?;
        report.add(
            "raw.conc",
            Section::Raw,
            format!(
                "raw (ii): 1 event per transaction, {} connections",
                cfg.raw_connections
            ),
            "events/s",
            Compare::Baseline("raw (ii)"),
            sample,
        );
        // (ii'') the same from as many connections as the widest command row has clients
        sqlx::raw_sql(&recreate).execute(&self.db.admin).await?;
        let sample = self.raw_concurrent(&pool, &insert_one, RAW_WIDE).await?;
        report.add(
            "raw.conc.wide",
            Section::Raw,
            format!("raw (ii''): 1 event per transaction, {RAW_WIDE} connections"),
            "events/s",
            Compare::Baseline("raw (ii'')"),
            sample,
        );
        sqlx::raw_sql(&recreate).execute(&self.db.admin).await?;
        sqlx::raw_sql(&format!(
            "CREATE FUNCTION \"{schema}\".notify() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN PERFORM pg_notify('{schema}', ''); RETURN NULL; END $$; \
             CREATE TRIGGER notify AFTER INSERT ON {table} FOR EACH STATEMENT EXECUTE FUNCTION \"{schema}\".notify()"
        ))
        .execute(&self.db.admin)
        .await?;
        let sample = self
            .raw_concurrent(&pool, &insert_one, cfg.raw_connections)
            .await?;
        report.add(
            "raw.conc.notify",
            Section::Raw,
            "raw (ii'): as (ii), on a table with a NOTIFY trigger per statement (as `chronicle_events` had before layout 4)"
                .to_owned(),
            "events/s",
            Compare::Throughput("raw.conc"),
            sample,
        );
        sqlx::query(&format!("DROP FUNCTION \"{schema}\".notify() CASCADE"))
            .execute(&self.db.admin)
            .await?;

        // (iii) batches in one statement each
        sqlx::raw_sql(&recreate).execute(&self.db.admin).await?;
        let mut batches = Vec::with_capacity(cfg.raw_batches);
        for j in 0..cfg.raw_batches {
            let mut rows = EventRows::with_capacity(cfg.batch_size);
            let account = format!("batch-{j}");
            for v in 0..cfg.batch_size {
                rows.deposit(&account, v as i64 + 1, 1 + (j * 7 + v) as i64 % 1000)?;
            }
            batches.push(rows);
        }
        let mut conn = pool.acquire().await?;
        self.db.checkpoint().await?;
        progress!(
            self,
            "raw (iii): {} transactions of {} events",
            number(cfg.raw_batches as f64),
            cfg.batch_size
        );
        let mut latencies = Vec::with_capacity(cfg.raw_batches);
        let started = Instant::now();
        for rows in &batches {
            let t = Instant::now();
            let inserted = rows.insert_all(&table, &mut conn).await?;
            latencies.push(t.elapsed());
            expect_eq("raw batch rows", inserted, cfg.batch_size as u64)?;
        }
        let sample = Sample::timed(cfg.raw_batches * cfg.batch_size, started.elapsed(), latencies);
        report.add(
            "raw.batch",
            Section::Raw,
            format!(
                "raw (iii): {} events per transaction (UNNEST), 1 connection; latency per transaction",
                cfg.batch_size
            ),
            "events/s",
            Compare::Baseline("raw (iii)"),
            sample,
        );
        drop(batches);

        // (iv) everything back in order, one streaming query
        self.db.vacuum(&table).await?;
        self.db.checkpoint().await?;
        let expected = cfg.raw_batches * cfg.batch_size;
        progress!(self, "raw (iv): stream {} events back", number(expected as f64));
        let sql = format!("SELECT {READ_COLUMNS} FROM {table} ORDER BY position");
        let started = Instant::now();
        let mut stream = sqlx::query(&sql).fetch(&mut *conn);
        let (mut read, mut checksum) = (0usize, 0usize);
        while let Some(row) = stream.try_next().await? {
            checksum = checksum.wrapping_add(decode_row(&row)?);
            read += 1;
        }
        let elapsed = started.elapsed();
        drop(stream);
        std::hint::black_box(checksum);
        expect_eq("raw read rows", read, expected)?;
        report.add(
            "raw.read",
            Section::Raw,
            "raw (iv): sequential read of all rows in position order (1 streaming query, every column decoded)"
                .to_owned(),
            "events/s",
            Compare::Baseline("raw (iv)"),
            Sample::timed(read, elapsed, Vec::new()),
        );
        drop(conn);
        pool.close().await;
        self.db.drop_schema(&schema).await
    }

    /// Single-event autocommit inserts from `connections` connections at once.
    async fn raw_concurrent(
        &self,
        pool: &sqlx::PgPool,
        insert_one: &str,
        connections: usize,
    ) -> Result<Sample> {
        let cfg = &self.cfg;
        let per_task = cfg.raw_concurrent / connections;
        let barrier = Arc::new(Barrier::new(connections + 1));
        let mut handles = Vec::new();
        for t in 0..connections {
            let mut conn = pool.acquire().await?;
            warm_up(insert_one, &mut conn, &format!("warm{t}")).await?;
            let rows = deposit_rows(&format!("c{t}"), per_task, 125, t as u64 + 10)?;
            let (barrier, sql) = (barrier.clone(), insert_one.to_owned());
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                let mut latencies = Vec::with_capacity(rows.len());
                for i in 0..rows.len() {
                    let t = Instant::now();
                    rows.insert_one(&sql, i, &mut conn).await?;
                    latencies.push(t.elapsed());
                }
                Ok(latencies)
            }));
        }
        self.db.checkpoint().await?;
        progress!(
            self,
            "raw (ii): {} single-event inserts, {} connections",
            number((per_task * connections) as f64),
            connections
        );
        barrier.wait().await;
        let started = Instant::now();
        let latencies: Vec<Duration> = join_all(handles).await?.into_iter().flatten().collect();
        Ok(Sample::timed(latencies.len(), started.elapsed(), latencies))
    }

    // ---------------------------------------------------------------------------------------
    // commands

    /// The bank workload from `clients` tasks, on the store as it is or with group commit.
    async fn commands(&mut self, clients: usize, group: bool, report: &mut Report) -> Result<()> {
        let store = self.db.event_store("cmd", clients.min(32) as u32).await?;
        let outcome = if group {
            let grouped = store.clone().with_group_commit(GroupCommit::default());
            self.command_phases(clients, true, &store, grouped, report).await
        } else {
            self.command_phases(clients, false, &store, store.clone(), report)
                .await
        };
        self.db.drop_store(store).await?;
        outcome
    }

    /// Opens the accounts, then deposits; `events` is `store` itself or its group-commit wrapper.
    async fn command_phases<S: EventStore>(
        &mut self,
        clients: usize,
        group: bool,
        store: &PostgresStore,
        events: S,
        report: &mut Report,
    ) -> Result<()> {
        let cfg = self.cfg.clone();
        let pool_size = clients.min(32) as u32;
        let (key_suffix, label_suffix) = if group {
            (".group", " **with group commit** (`GroupCommit::default()`)")
        } else {
            ("", "")
        };
        let counting = CountingStore::new(events);
        let bank = Chronicle::new(counting.clone());
        // Against the raw rate at the same number of connections: 1, 8, and 32 or more.
        let compare = match clients {
            1 => Compare::Throughput("raw.single"),
            c if c >= RAW_WIDE => Compare::Throughput("raw.conc.wide"),
            _ => Compare::Throughput("raw.conc"),
        };

        self.db.checkpoint().await?;
        progress!(
            self,
            "commands, {}: open {} accounts",
            clients_label(clients),
            number(cfg.accounts as f64)
        );
        let started = Instant::now();
        let mut handles = Vec::new();
        for t in 0..clients {
            let bank = bank.clone();
            let owned: Vec<usize> = (t..cfg.accounts).step_by(clients).collect();
            handles.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(owned.len());
                for n in owned {
                    let command = OpenAccount {
                        account_id: account_id(n),
                        owner: format!("owner {n}"),
                        overdraft_limit: OVERDRAFT,
                    };
                    let t = Instant::now();
                    bank.execute(command).await?;
                    latencies.push(t.elapsed());
                }
                Ok(latencies)
            }));
        }
        let latencies: Vec<Duration> = join_all(handles).await?.into_iter().flatten().collect();
        let opened = Sample::timed(latencies.len(), started.elapsed(), latencies);
        expect_eq("open appends", counting.counted().appends, cfg.accounts as u64)?;
        report.add(
            &format!("cmd.{clients}.open{key_suffix}"),
            Section::Commands,
            format!(
                "commands, {}: open {} accounts (pool of {pool_size}){label_suffix}",
                clients_label(clients),
                number(cfg.accounts as f64)
            ),
            "cmds/s",
            compare.clone(),
            opened.with("_commands", cfg.accounts as f64),
        );

        self.db.checkpoint().await?;
        counting.reset();
        progress!(
            self,
            "commands, {}: {} deposits",
            clients_label(clients),
            number(cfg.deposits as f64)
        );
        let started = Instant::now();
        let mut handles = Vec::new();
        for t in 0..clients {
            let bank = bank.clone();
            let owned: Vec<usize> = (t..cfg.accounts).step_by(clients).collect();
            let count = cfg.deposits / clients + usize::from(t < cfg.deposits % clients);
            handles.push(tokio::spawn(async move {
                let mut rng = Rng::new(0xc0ffee + t as u64);
                let mut latencies = Vec::with_capacity(count);
                let mut deposited = 0i64;
                for _ in 0..count {
                    let amount = 1 + rng.below(1000) as i64;
                    let command = Deposit {
                        account_id: account_id(owned[rng.below(owned.len())]),
                        amount,
                    };
                    let t = Instant::now();
                    bank.execute(command).await?;
                    latencies.push(t.elapsed());
                    deposited += amount;
                }
                Ok((latencies, deposited))
            }));
        }
        let results = join_all(handles).await?;
        let elapsed = started.elapsed();
        let deposited: i64 = results.iter().map(|(_, d)| d).sum();
        let latencies: Vec<Duration> = results.into_iter().flat_map(|(l, _)| l).collect();
        let counted = counting.counted();
        let (opens, deposits, sum) = event_counts(&self.db, store).await?;
        expect_eq("AccountOpened events", opens, cfg.accounts as i64)?;
        expect_eq("MoneyDeposited events", deposits, cfg.deposits as i64)?;
        expect_eq("sum of deposits", sum, deposited)?;
        expect_eq("deposit appends", counted.appends, cfg.deposits as u64)?;
        expect_eq("conflicts without contention", counted.conflicts, 0)?;
        let sample = Sample::timed(latencies.len(), elapsed, latencies)
            .with(
                "read_stream calls/cmd",
                counted.read_stream as f64 / cfg.deposits as f64,
            )
            .with("read_stream mean ms", counted.read_stream_ms())
            .with("append mean ms", counted.append_ms())
            .with("_commands", cfg.deposits as f64)
            .with("_events", deposits as f64)
            .with("_appends", counted.appends as f64)
            .with("_conflicts", counted.conflicts as f64);
        report.add(
            &format!("cmd.{clients}.deposit{key_suffix}"),
            Section::Commands,
            format!(
                "commands, {}: {} deposits over {} accounts (each client its own accounts){label_suffix}",
                clients_label(clients),
                number(cfg.deposits as f64),
                number(cfg.accounts as f64)
            ),
            "cmds/s",
            compare,
            sample,
        );
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // contention

    async fn contention(&mut self, report: &mut Report) -> Result<()> {
        let cfg = self.cfg.clone();
        let store = self.db.event_store("hot", cfg.hot_clients as u32).await?;
        let counting = CountingStore::new(store.clone());
        let bank = Chronicle::new(counting.clone());
        for n in 0..cfg.hot_accounts {
            bank.execute(OpenAccount {
                account_id: account_id(n),
                owner: format!("owner {n}"),
                overdraft_limit: OVERDRAFT,
            })
            .await?;
        }
        self.db.checkpoint().await?;
        counting.reset();
        progress!(
            self,
            "contention: {} clients, {} deposits on {} accounts",
            cfg.hot_clients,
            number(cfg.hot_deposits as f64),
            cfg.hot_accounts
        );
        let started = Instant::now();
        let mut handles = Vec::new();
        for t in 0..cfg.hot_clients {
            let bank = bank.clone();
            let hot = cfg.hot_accounts;
            let count =
                cfg.hot_deposits / cfg.hot_clients + usize::from(t < cfg.hot_deposits % cfg.hot_clients);
            handles.push(tokio::spawn(async move {
                let mut rng = Rng::new(0xbeef + t as u64);
                let mut latencies = Vec::with_capacity(count);
                let (mut deposited, mut gave_up) = (0i64, 0u64);
                for _ in 0..count {
                    let amount = 1 + rng.below(1000) as i64;
                    let command = Deposit {
                        account_id: account_id(rng.below(hot)),
                        amount,
                    };
                    let t = Instant::now();
                    match bank.execute(command).await {
                        Ok(_) => {
                            latencies.push(t.elapsed());
                            deposited += amount;
                        }
                        Err(CommandError::Concurrency { .. }) => gave_up += 1,
                        Err(other) => return Err(other.into()),
                    }
                }
                Ok((latencies, deposited, gave_up))
            }));
        }
        let results = join_all(handles).await?;
        let elapsed = started.elapsed();
        let deposited: i64 = results.iter().map(|r| r.1).sum();
        let gave_up: u64 = results.iter().map(|r| r.2).sum();
        let latencies: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
        let succeeded = latencies.len();
        let counted = counting.counted();
        let (_, deposits, sum) = event_counts(&self.db, &store).await?;
        expect_eq(
            "MoneyDeposited events under contention",
            deposits,
            succeeded as i64,
        )?;
        expect_eq("sum of deposits under contention", sum, deposited)?;
        expect_eq("appends under contention", counted.appends, succeeded as u64)?;
        // Every conflict on append is one more attempt of the command.
        let retries = counted.conflicts as f64;
        let sample = Sample::timed(succeeded, elapsed, latencies)
            .with("retries (conflicts on append)", retries)
            .with("retries/cmd", retries / cfg.hot_deposits as f64)
            .with(
                "read_stream calls/cmd",
                counted.read_stream as f64 / cfg.hot_deposits as f64,
            )
            .with("find_command calls", counted.find_command as f64)
            .with("read_stream mean ms", counted.read_stream_ms())
            .with("append mean ms", counted.append_ms())
            .with("gave up", gave_up as f64)
            .with("_commands", cfg.hot_deposits as f64)
            .with("_events", deposits as f64);
        report.add(
            "hot",
            Section::Contention,
            format!(
                "contention: {} clients, {} deposits on {} hot accounts",
                cfg.hot_clients,
                number(cfg.hot_deposits as f64),
                cfg.hot_accounts
            ),
            "cmds/s",
            Compare::Throughput("raw.conc"),
            sample,
        );
        self.db.drop_store(store).await
    }

    // ---------------------------------------------------------------------------------------
    // aggregate load

    async fn load(&mut self, report: &mut Report) -> Result<()> {
        let cfg = self.cfg.clone();
        let events = cfg.load_events;
        let store = self.db.event_store("load", 2).await?;
        let table = format!("\"{}\".chronicle_events", store.schema());
        let bank = Chronicle::new(store.clone());
        let account = "big";
        let stream = account_stream(account);
        let mut rng = Rng::new(42);
        let mut balance = 0i64;
        let mut conn = store.pool().acquire().await?;
        // A snapshot `SNAPSHOT_BEHIND` events before the head (the most an aggregate with
        // `snapshot_every = 100` replays), then the rest of the stream.
        let behind = SNAPSHOT_BEHIND.min(events - 1);
        let snapshotted = (events - behind) as u64;
        insert_stream(
            &mut conn,
            &table,
            account,
            1..=snapshotted as i64,
            &mut rng,
            &mut balance,
        )
        .await?;
        expect_eq(
            "snapshot behind the head",
            bank.take_snapshot::<SnappedAccount>(account).await?,
            Some(snapshotted),
        )?;
        insert_stream(
            &mut conn,
            &table,
            account,
            snapshotted as i64 + 1..=events as i64,
            &mut rng,
            &mut balance,
        )
        .await?;
        self.db.vacuum(&table).await?;
        let raw_sql =
            format!("SELECT {READ_COLUMNS} FROM {table} WHERE stream_id = $1 ORDER BY stream_version");
        let light_sql =
            format!("SELECT {LOAD_COLUMNS} FROM {table} WHERE stream_id = $1 ORDER BY stream_version");
        let check = |version: u64, got: i64, snapshot: Option<u64>, expected_snapshot: Option<u64>| {
            expect_eq("loaded version", version, events as u64)?;
            expect_eq("loaded balance", got, balance)?;
            expect_eq("snapshot used", snapshot, expected_snapshot)
        };
        // Warm every path (prepared statements, cache).
        for _ in 0..2 {
            bank.load::<Account>(account).await?;
            bank.load::<SnappedAccount>(account).await?;
            sqlx::query(&raw_sql).bind(&stream).fetch_all(&mut *conn).await?;
            sqlx::query(&light_sql)
                .bind(&stream)
                .fetch_all(&mut *conn)
                .await?;
        }
        self.db.checkpoint().await?;
        progress!(
            self,
            "aggregate load: {} loads of a {}-event stream, without and with a snapshot {behind} events behind, and as many raw reads",
            cfg.load_iterations,
            number(events as f64)
        );
        let mut raw = Timings::default();
        let mut raw_light = Timings::default();
        let mut plain = Timings::default();
        let mut snapped = Timings::default();
        for _ in 0..cfg.load_iterations {
            for (sql, decode, timings, what) in [
                (
                    &raw_sql,
                    decode_row as fn(&PgRow) -> Result<usize>,
                    &mut raw,
                    "raw stream rows",
                ),
                (
                    &light_sql,
                    decode_load_row,
                    &mut raw_light,
                    "raw light stream rows",
                ),
            ] {
                let t = Instant::now();
                let rows = sqlx::query(sql).bind(&stream).fetch_all(&mut *conn).await?;
                let mut checksum = 0usize;
                for row in &rows {
                    checksum = checksum.wrapping_add(decode(row)?);
                }
                timings.push(t.elapsed());
                std::hint::black_box(checksum);
                expect_eq(what, rows.len(), events)?;
            }

            let t = Instant::now();
            let loaded = bank.load::<Account>(account).await?;
            plain.push(t.elapsed());
            check(loaded.version, loaded.state.balance(), loaded.snapshot, None)?;

            let t = Instant::now();
            let loaded = bank.load::<SnappedAccount>(account).await?;
            snapped.push(t.elapsed());
            check(
                loaded.version,
                loaded.state.balance,
                loaded.snapshot,
                Some(snapshotted),
            )?;
        }
        // Then with the snapshot at the head: nothing left to replay.
        expect_eq(
            "snapshot at the head",
            bank.take_snapshot::<SnappedAccount>(account).await?,
            Some(events as u64),
        )?;
        bank.load::<SnappedAccount>(account).await?;
        let mut at_head = Timings::default();
        for _ in 0..cfg.load_iterations {
            let t = Instant::now();
            let loaded = bank.load::<SnappedAccount>(account).await?;
            at_head.push(t.elapsed());
            check(
                loaded.version,
                loaded.state.balance,
                loaded.snapshot,
                Some(events as u64),
            )?;
        }

        let plain_p50 = plain.sample().p50_ms.unwrap_or(f64::NAN);
        let label = |what: &str| {
            format!(
                "aggregate load: `Chronicle::load` of a {}-event stream, {what}",
                number(events as f64)
            )
        };
        report.add(
            "raw.stream",
            Section::Raw,
            format!(
                "raw (v): read one {}-event stream (1 query, every column decoded)",
                number(events as f64)
            ),
            "reads/s",
            Compare::Baseline("raw (v)"),
            raw.sample(),
        );
        let light_p50 = raw_light.sample().p50_ms.unwrap_or(f64::NAN);
        report.add(
            "raw.stream.light",
            Section::Raw,
            format!(
                "raw (v'): read one {}-event stream, only the columns a load applies (position, versions, type, payload, time)",
                number(events as f64)
            ),
            "reads/s",
            Compare::Latency("raw.stream"),
            raw_light.sample(),
        );
        report.add(
            "load.plain",
            Section::Load,
            label("no snapshot"),
            "loads/s",
            Compare::Latency("raw.stream"),
            plain
                .sample()
                .with("p50 × raw (v')", plain_p50 / light_p50)
                .with("_events", events as f64),
        );
        for (key, what, timings) in [
            (
                "load.snapshot",
                format!("snapshot {behind} events behind the head (worst case of `snapshot_every = 100`)"),
                snapped,
            ),
            ("load.snapshot.head", "snapshot at the head".to_owned(), at_head),
        ] {
            let sample = timings.sample();
            let speedup = plain_p50 / sample.p50_ms.unwrap_or(f64::NAN);
            report.add(
                key,
                Section::Load,
                label(&what),
                "loads/s",
                Compare::Latency("raw.stream"),
                sample.with("speed-up of p50 over no snapshot", speedup),
            );
        }
        drop(conn);
        self.db.drop_store(store).await
    }

    // ---------------------------------------------------------------------------------------
    // projection catch-up

    /// Bulk-loads `events` bank events (the accounts' openings first, then deposits on random
    /// accounts) into a fresh store, once per invocation.
    async fn dataset(&mut self, events: usize) -> Result<()> {
        if self.datasets.contains_key(&events) {
            return Ok(());
        }
        let accounts = self.cfg.catchup_accounts.clamp(1, events.max(1));
        let store = self.db.event_store("events", 2).await?;
        let table = format!("\"{}\".chronicle_events", store.schema());
        progress!(self, "catch-up: loading {} events", number(events as f64));
        let started = Instant::now();
        let mut conn = store.pool().acquire().await?;
        let mut rng = Rng::new(events as u64);
        let mut versions = vec![1i64; accounts];
        let mut deposited = 0i64;
        let mut rows = EventRows::with_capacity(BULK_CHUNK);
        for n in 0..events {
            if n < accounts {
                rows.open(&account_id(n))?;
            } else {
                let a = rng.below(accounts);
                versions[a] += 1;
                let amount = 1 + rng.below(1000) as i64;
                deposited += amount;
                rows.deposit(&account_id(a), versions[a], amount)?;
            }
            // The openings go in a transaction of their own, before any deposit.
            if rows.len() == BULK_CHUNK || n + 1 == accounts || n + 1 == events {
                rows.insert_all(&table, &mut conn).await?;
                rows = EventRows::with_capacity(BULK_CHUNK);
            }
        }
        drop(conn);
        self.db.vacuum(&table).await?;
        let loaded = store.head().await?;
        progress!(
            self,
            "catch-up: {} events loaded in {:.1} s (last position {:?})",
            number(events as f64),
            started.elapsed().as_secs_f64(),
            loaded.position
        );
        self.datasets.insert(
            events,
            Dataset {
                store,
                accounts,
                deposited,
                timed_out: false,
            },
        );
        Ok(())
    }

    async fn catch_up(&mut self, events: usize, report: &mut Report) -> Result<()> {
        self.dataset(events).await?;
        let (store, accounts, deposited) = {
            let d = &self.datasets[&events];
            if d.timed_out {
                progress!(
                    self,
                    "catch-up over {} events: not run again, it did not catch up in time before",
                    number(events as f64)
                );
                return Ok(());
            }
            (d.store.clone(), d.accounts, d.deposited)
        };
        let budget = self.cfg.catchup_budget;
        let read_pool = self.db.pool(2).await?;
        let view_schema = self.db.schema("view");
        let read = PostgresReadStore::from_pool(read_pool.clone()).with_schema(&view_schema)?;
        read.migrate().await?;
        self.db.checkpoint().await?;
        progress!(
            self,
            "catch-up: AccountBalances from empty over {} events",
            number(events as f64)
        );
        trim_heap();
        let peak_reset = reset_peak_rss();
        let rss_before = proc_status_kb("VmRSS").unwrap_or(0);
        let peak_before = proc_status_kb("VmHWM").unwrap_or(0);
        let started = Instant::now();
        let handle = ProjectionRunner::new(store.clone(), read.clone(), AccountBalances)
            .batch_size(self.cfg.catchup_batch)
            .spawn();
        let outcome = handle.wait_until_caught_up(budget).await;
        let elapsed = started.elapsed();
        let peak_after = proc_status_kb("VmHWM").unwrap_or(0);
        let applied = match outcome {
            Ok(()) => events,
            Err(ProjectionError::Timeout { ready, held_back, .. }) => {
                events.saturating_sub(usize::try_from(ready + held_back)?)
            }
            Err(other) => return Err(other.into()),
        };
        handle.stop().await.into_result()?;
        let (rows, sum): (i64, i64) = sqlx::query_as(&format!(
            "SELECT count(*), COALESCE(sum(balance), 0)::bigint FROM \"{view_schema}\".bank_account_balances"
        ))
        .fetch_one(&self.db.admin)
        .await?;
        if applied == events {
            expect_eq("balance view rows", rows, accounts as i64)?;
            expect_eq("balance view total", sum, deposited)?;
        } else {
            self.datasets.get_mut(&events).expect("loaded above").timed_out = true;
            progress!(
                self,
                "catch-up over {} events: NOT caught up within {} s ({} applied)",
                number(events as f64),
                budget.as_secs(),
                number(applied as f64)
            );
        }
        read_pool.close().await;
        self.db.drop_schema(&view_schema).await?;
        let growth_kb = if peak_reset {
            peak_after.saturating_sub(rss_before)
        } else {
            peak_after.saturating_sub(peak_before)
        };
        let mut sample = Sample::timed(applied, elapsed, Vec::new());
        if applied < events {
            sample = sample.remark(format!(
                "**did not catch up within the {} s budget**: {} of {} events applied (rate = applied / budget; not run again)",
                budget.as_secs(),
                number(applied as f64),
                number(events as f64)
            ));
        }
        let sample = sample
            .with("RSS at start (MiB)", rss_before as f64 / 1024.0)
            .with("peak RSS (MiB)", peak_after as f64 / 1024.0)
            .with("peak − start (MiB)", growth_kb as f64 / 1024.0)
            .with("_events", events as f64)
            .with("_applied", applied as f64)
            .with("_view_rows", rows as f64)
            .with("_accounts", accounts as f64);
        report.add(
            &format!("catchup.{events}"),
            Section::CatchUp,
            format!(
                "projection catch-up: AccountBalances (batch handlers) from empty to caught up, {} events over {} accounts, batches of {}",
                number(events as f64),
                number(accounts as f64),
                number(self.cfg.catchup_batch as f64)
            ),
            "events/s",
            Compare::Throughput("raw.read"),
            sample,
        );
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // overhead: the same workload bare and observed

    /// The deposits and the catch-up of `overhead.rs`, bare then observed, each on fresh schemas.
    async fn overhead(&mut self, report: &mut Report) -> Result<()> {
        let cfg = self.cfg.clone();
        let clients = cfg.raw_connections;
        let deposits = cfg.overhead_deposits / clients * clients;
        for observed in [false, true] {
            let (flavour, what) = if observed {
                (
                    "observed",
                    "with a Prometheus recorder and a subscriber recording every span (debug ones too)",
                )
            } else {
                ("bare", "no metrics recorder, no tracing subscriber")
            };
            let store = self.db.event_store("overhead", 1).await?;
            store.pool().close().await;
            let view_schema = self.db.schema("overhead_view");
            let read_pool = self.db.pool(1).await?;
            PostgresReadStore::from_pool(read_pool.clone())
                .with_schema(&view_schema)?
                .migrate()
                .await?;
            read_pool.close().await;
            self.db.checkpoint().await?;
            progress!(
                self,
                "overhead, {flavour}: {} deposits from {clients} clients, then a catch-up",
                number(deposits as f64)
            );
            let workload = overhead::Workload {
                url: cfg.database_url.clone(),
                events_schema: store.schema().to_owned(),
                view_schema: view_schema.clone(),
                clients,
                accounts: cfg.accounts,
                deposits,
                catchup_batch: cfg.catchup_batch,
            };
            let measured = overhead::measure(workload, observed).await?;
            let (_, stored, _) = event_counts(&self.db, &store).await?;
            expect_eq("MoneyDeposited events", stored, deposits as i64)?;
            let (commands, catch_up) = if observed {
                (
                    Compare::ThroughputOf(vec!["raw.conc".into(), "overhead.bare.commands".into()]),
                    Compare::ThroughputOf(vec!["raw.read".into(), "overhead.bare.catchup".into()]),
                )
            } else {
                (Compare::Throughput("raw.conc"), Compare::Throughput("raw.read"))
            };
            report.add(
                &format!("overhead.{flavour}.commands"),
                Section::Overhead,
                format!(
                    "overhead, {flavour} ({what}): {} deposits from {clients} clients",
                    number(deposits as f64)
                ),
                "cmds/s",
                commands,
                measured.commands,
            );
            report.add(
                &format!("overhead.{flavour}.catchup"),
                Section::Overhead,
                format!(
                    "overhead, {flavour}: AccountBalances caught up over those {} events, batches of {}",
                    number((cfg.accounts + deposits) as f64),
                    number(cfg.catchup_batch as f64)
                ),
                "events/s",
                catch_up,
                measured.catch_up,
            );
            self.db.drop_store(store).await?;
            self.db.drop_schema(&view_schema).await?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // scale-out: a partitioned view caught up by worker processes; failover

    /// The worker processes' binary: the configured one, or this harness.
    fn worker_exe(&self) -> Result<std::path::PathBuf> {
        match &self.cfg.worker_exe {
            Some(exe) => Ok(exe.clone()),
            None => Ok(std::env::current_exe()?),
        }
    }

    /// The raw per-event baseline on 1 and 4 connections, then each view with one partition and
    /// one worker, and with `scale_partitions` partitions and each worker count.
    async fn scale_out(&mut self, report: &mut Report) -> Result<()> {
        let events = self.cfg.scale_events;
        self.dataset(events).await?;
        let exe = self.worker_exe()?;
        let (store, accounts, deposited) = {
            let d = &self.datasets[&events];
            (d.store.clone(), d.accounts, d.deposited)
        };
        let partitions = self.cfg.scale_partitions;
        // The indexes the partitions read by, built before any clock starts.
        store.prepare_partitions(1).await?;
        store.prepare_partitions(partitions).await?;
        let data = scale::Data {
            store: &store,
            events,
            accounts,
            deposited,
        };
        let settings = scale::Settings {
            exe: &exe,
            database_url: &self.cfg.database_url,
            batch: self.cfg.scale_batch,
            budget: self.cfg.catchup_budget,
        };
        let batch = self.cfg.scale_batch;
        for connections in [1, partitions] {
            progress!(
                self,
                "scale-out: raw, one statement per event, {connections} connection(s)"
            );
            let scaled = scale::raw_per_event(&self.db, &data, connections, batch, settings.budget).await?;
            scaling::rows::raw(report, &data, connections, batch, &scaled);
        }
        for view in [View::PerEvent, View::Batch] {
            let layouts =
                std::iter::once((1, 1)).chain(self.cfg.scale_workers.iter().map(|&w| (partitions, w)));
            for (count, workers) in layouts {
                progress!(
                    self,
                    "scale-out: {} with {count} partition(s), {workers} worker process(es), {} events",
                    view.projection_name(),
                    number(events as f64)
                );
                let scaled = scale::partitioned(&self.db, &data, &settings, view, count, workers).await?;
                progress!(self, "scale-out: {:.0} events/s", scaled.rate());
                scaling::rows::partitioned(report, &data, view, count, workers, batch, partitions, &scaled);
            }
        }
        Ok(())
    }

    /// Kills and pauses workers of a partitioned view that keeps up with live deposits.
    async fn failover(&mut self, report: &mut Report) -> Result<()> {
        let exe = self.worker_exe()?;
        let settings = scaling::failover::Settings {
            exe: &exe,
            database_url: &self.cfg.database_url,
            workers: self.cfg.failover_workers,
            partitions: self.cfg.scale_partitions,
            accounts: self.cfg.catchup_accounts,
            lease: self.cfg.failover_lease,
            poll: Duration::from_millis(200),
            kills: self.cfg.failover_kills,
            pauses: self.cfg.failover_pauses,
            seed: self.started.elapsed().as_nanos() as u64,
        };
        progress!(
            self,
            "failover: {} workers, {} kills and {} pauses (seed {})",
            settings.workers,
            settings.kills,
            settings.pauses,
            settings.seed
        );
        let failovers = scaling::failover::measure(&self.db, &settings).await?;
        scaling::rows::failover(report, &settings, &failovers);
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // portability, Redis, MariaDB: catch-ups into other read stores

    /// The data set of `events` events as a catch-up target, or `None` when the measurement
    /// `key` ran out of budget before.
    async fn target(&mut self, events: usize, key: &str) -> Result<Option<(PostgresStore, Target)>> {
        if self.gave_up.contains(key) {
            progress!(self, "{key}: not run again, it did not catch up in time before");
            return Ok(None);
        }
        self.dataset(events).await?;
        let d = &self.datasets[&events];
        let target = Target {
            events,
            accounts: d.accounts,
            deposited: d.deposited,
            batch: self.cfg.catchup_batch,
            budget: self.cfg.catchup_budget,
        };
        Ok(Some((d.store.clone(), target)))
    }

    /// Checks a caught-up view's rows and total balance against the data set; a catch-up that ran
    /// out of budget instead marks `key` as not to be run again.
    fn check_view(
        &mut self,
        key: &str,
        what: &str,
        catch_up: &CatchUp,
        target: &Target,
        (rows, sum): (i64, i64),
    ) -> Result<()> {
        if catch_up.finished(target) {
            expect_eq(&format!("{what}: rows"), rows, target.accounts as i64)?;
            return expect_eq(&format!("{what}: total balance"), sum, target.deposited);
        }
        progress!(
            self,
            "{what} over {} events: NOT caught up within {} s ({} applied)",
            number(target.events as f64),
            target.budget.as_secs(),
            number(catch_up.applied as f64)
        );
        self.gave_up.insert(key.to_owned());
        Ok(())
    }

    /// The rows and the total balance of the bank's balance view in a Postgres schema.
    async fn view_totals(&self, schema: &str) -> Result<(i64, i64)> {
        Ok(sqlx::query_as(&format!(
            "SELECT count(*), COALESCE(sum(balance), 0)::bigint FROM \"{schema}\".bank_account_balances"
        ))
        .fetch_one(&self.db.admin)
        .await?)
    }

    /// The portable `bank::views::AccountBalances` (`&mut Sql`) on a `SqlReadStore` over
    /// Postgres next to the direct `bank::views::postgres::AccountBalances`, each from empty to
    /// caught up over the same data set in the same batches: twice each per run, in the order
    /// direct, portable, portable, direct (the reverse in even runs), each one's better catch-up
    /// being the run's sample, so that neither has the warmer caches.
    async fn portability(&mut self, events: usize, run: usize, report: &mut Report) -> Result<()> {
        let key = format!("portability.{events}");
        let Some((store, target)) = self.target(events, &key).await? else {
            return Ok(());
        };
        let order = if run % 2 == 1 {
            [false, true, true, false]
        } else {
            [true, false, false, true]
        };
        // [direct, portable]
        let mut best: [Option<CatchUp>; 2] = [None, None];
        for portable in order {
            let what = if portable {
                "portable AccountBalances on SqlReadStore(Postgres)"
            } else {
                "direct AccountBalances on PostgresReadStore"
            };
            let pool = self.db.pool(2).await?;
            let schema = self.db.schema("view");
            let read = PostgresReadStore::from_pool(pool.clone()).with_schema(&schema)?;
            let catch_up = if portable {
                let read = SqlReadStore::from(read);
                read.migrate().await?;
                self.db.checkpoint().await?;
                progress!(
                    self,
                    "portability: {what}, from empty over {} events",
                    number(events as f64)
                );
                polyglot::run_projection(&store, read, bank::views::AccountBalances, &target).await?
            } else {
                read.migrate().await?;
                self.db.checkpoint().await?;
                progress!(
                    self,
                    "portability: {what}, from empty over {} events",
                    number(events as f64)
                );
                polyglot::run_projection(&store, read, AccountBalances, &target).await?
            };
            let totals = self.view_totals(&schema).await?;
            pool.close().await;
            self.db.drop_schema(&schema).await?;
            self.check_view(&key, what, &catch_up, &target, totals)?;
            let slot = &mut best[usize::from(portable)];
            if slot.is_none_or(|b| catch_up.rate() > b.rate()) {
                *slot = Some(catch_up);
            }
            if !catch_up.finished(&target) {
                break;
            }
        }
        let shape = format!(
            "{} events over {} accounts, batches of {}; better of 2 catch-ups per run, the order alternating",
            number(events as f64),
            number(target.accounts as f64),
            number(target.batch as f64)
        );
        let direct_key = format!("portability.direct.{events}");
        let [direct, portable] = best;
        if let Some(direct) = direct {
            report.add(
                &direct_key,
                Section::Portability,
                format!(
                    "portability: the direct view (`bank::views::postgres::AccountBalances`: `PgConnection`, arrays + `UNNEST`) on `PostgresReadStore`, from empty to caught up, {shape}"
                ),
                "events/s",
                Compare::ThroughputOf(vec!["raw.read".to_owned()]),
                direct.sample(&target),
            );
            if let Some(portable) = portable {
                let sample = portable
                    .sample(&target)
                    .with("portable ÷ direct, same run", portable.rate() / direct.rate());
                report.add(
                    &format!("portability.sql.{events}"),
                    Section::Portability,
                    "portability: the portable view (`bank::views::AccountBalances`: `&mut Sql`, multi-row `VALUES` inserts, `UPDATE ... FROM (VALUES ...)`) on `SqlReadStore` over Postgres, same data set and batches (target ≥ 90 % of the direct view)"
                        .to_owned(),
                    "events/s",
                    Compare::ThroughputOf(vec![direct_key, "raw.read".to_owned()]),
                    sample,
                );
            }
        }
        Ok(())
    }

    /// The order of a run's measurements next to a raw writer: the sequential raw writer, the
    /// read-ahead one and the runner (`None`) in odd runs, the reverse in even runs.
    fn raw_order(run: usize) -> [Option<Reading>; 3] {
        let order = [Some(Reading::Sequential), Some(Reading::Ahead), None];
        if run % 2 == 1 {
            order
        } else {
            [order[2], order[1], order[0]]
        }
    }

    /// A balance view in Redis ([`RedisBalances`] on `RedisReadStore`) from empty to caught up
    /// over the data set, next to raw writers of the same keys (see [`Self::raw_order`]).
    async fn redis(&mut self, events: usize, run: usize, report: &mut Report) -> Result<()> {
        let key = format!("redis.{events}");
        let Some((store, target)) = self.target(events, &key).await? else {
            return Ok(());
        };
        let url = self.cfg.redis_url.clone();
        let connection = polyglot::redis_connection(&url).await?;
        let prefix = format!("chb_{}", &Uuid::new_v4().simple().to_string()[..10]);
        let outcome: Result<_> = async {
            let settings = polyglot::redis_settings(&connection).await?;
            let mut measured = Measured::default();
            for reading in Self::raw_order(run) {
                self.db.checkpoint().await?;
                let (what, keys, catch_up) = match reading {
                    Some(reading) => {
                        let keys = RedisKeys::under(&prefix, "raw");
                        let what = raw_what("Redis", reading);
                        progress!(self, "redis: {what}, {} events", number(events as f64));
                        let catch_up =
                            polyglot::raw_redis(&store, &target, reading, &connection, &keys).await?;
                        (what, keys, catch_up)
                    }
                    None => {
                        let read = RedisReadStore::open(&url)?.prefix(&prefix);
                        read.migrate().await?;
                        let keys = RedisKeys::under(&prefix, "view");
                        let what = "RedisBalances on RedisReadStore".to_owned();
                        progress!(
                            self,
                            "redis: {what} from empty over {} events",
                            number(events as f64)
                        );
                        let projection = RedisBalances { keys: keys.clone() };
                        let catch_up = polyglot::run_projection(&store, read, projection, &target).await?;
                        (what, keys, catch_up)
                    }
                };
                let (accounts, sum, owners) = polyglot::redis_view(&connection, &keys).await?;
                self.check_view(&key, &what, &catch_up, &target, (accounts, sum))?;
                if catch_up.finished(&target) {
                    expect_eq(&format!("{what}: owners"), owners, target.accounts as i64)?;
                }
                measured.record(reading, catch_up);
                if self.gave_up.contains(&key) {
                    break;
                }
            }
            Ok((settings, measured))
        }
        .await;
        let cleanup = polyglot::delete_redis_keys(&connection, &prefix).await;
        let (settings, measured) = outcome?;
        cleanup?;
        let shape = format!(
            "{} events over {} accounts from the Postgres event table, batches of {}",
            number(events as f64),
            number(target.accounts as f64),
            number(target.batch as f64)
        );
        measured.report(
            report,
            &target,
            Section::Redis,
            [&key, &format!("redis.raw.{events}"), &format!("redis.raw_ahead.{events}")],
            [
                format!(
                    "Redis: a balance view (hash fields, batch handlers on `RedisWrites`) on `RedisReadStore` from empty to caught up, one `MULTI`/`EXEC` per batch with the checkpoint; {shape} (target ≥ 50 % of raw)"
                ),
                format!(
                    "Redis, raw: sqlx reads a batch, then its commands (`HSET` per run of openings, `HINCRBY` per net change) go in one redis `MULTI`/`EXEC` pipeline; {shape}"
                ),
                format!("Redis, raw with read-ahead: as raw, the next batch read while one is written (as the runner does); {shape}"),
            ],
            ["raw Redis", "raw Redis, read-ahead"],
            settings,
        );
        Ok(())
    }

    /// The portable `bank::views::AccountBalances` on `SqlReadStore::from(MySqlReadStore)` from
    /// empty to caught up over the data set, next to raw sqlx writers of the same rows (see
    /// [`Self::raw_order`]), in a scratch database of its own.
    async fn mariadb(&mut self, events: usize, run: usize, report: &mut Report) -> Result<()> {
        let key = format!("mariadb.{events}");
        let Some((store, target)) = self.target(events, &key).await? else {
            return Ok(());
        };
        let database = ScratchDatabase::create(&self.cfg.mysql_url, 4).await?;
        let outcome: Result<_> = async {
            let settings = database.settings().await?;
            let mut measured = Measured::default();
            for reading in Self::raw_order(run) {
                self.db.checkpoint().await?;
                let (what, table, catch_up) = match reading {
                    Some(reading) => {
                        let what = raw_what("MariaDB", reading);
                        progress!(self, "mariadb: {what}, {} events", number(events as f64));
                        let catch_up = polyglot::raw_mariadb(&store, &target, reading, &database).await?;
                        (what, polyglot::RAW_MYSQL_TABLE, catch_up)
                    }
                    None => {
                        let read = SqlReadStore::from(MySqlReadStore::from_pool(database.pool.clone()));
                        read.migrate().await?;
                        let what = "portable AccountBalances on SqlReadStore(MySqlReadStore)".to_owned();
                        progress!(
                            self,
                            "mariadb: {what} from empty over {} events",
                            number(events as f64)
                        );
                        let catch_up =
                            polyglot::run_projection(&store, read, bank::views::AccountBalances, &target)
                                .await?;
                        (what, "bank_account_balances", catch_up)
                    }
                };
                let totals = database.balances(table).await?;
                self.check_view(&key, &what, &catch_up, &target, totals)?;
                measured.record(reading, catch_up);
                if self.gave_up.contains(&key) {
                    break;
                }
            }
            Ok((settings, measured))
        }
        .await;
        let cleanup = database.drop().await;
        let (settings, measured) = outcome?;
        cleanup?;
        let shape = format!(
            "{} events over {} accounts from the Postgres event table, batches of {}",
            number(events as f64),
            number(target.accounts as f64),
            number(target.batch as f64)
        );
        measured.report(
            report,
            &target,
            Section::MariaDb,
            [&key, &format!("mariadb.raw.{events}"), &format!("mariadb.raw_ahead.{events}")],
            [
                format!(
                    "MariaDB: the portable view (`bank::views::AccountBalances`) on `SqlReadStore::from(MySqlReadStore)` from empty to caught up, the checkpoint in each batch's transaction; {shape} (target ≥ 50 % of raw)"
                ),
                format!(
                    "MariaDB, raw: sqlx reads a batch from Postgres, then one MySQL transaction writes it: a multi-row `INSERT` per run of openings, an `UPDATE ... CASE` per run of deposits (≤ 1,000 rows a statement); {shape}"
                ),
                format!("MariaDB, raw with read-ahead: as raw, the next batch read while one is written (as the runner does); {shape}"),
            ],
            ["raw MariaDB", "raw MariaDB, read-ahead"],
            settings,
        );
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // relays

    /// A relay from an empty checkpoint to caught up over a loaded log, to RabbitMQ and to NATS
    /// JetStream, each after a raw publisher of the same messages on the same broker.
    async fn relays(&mut self, report: &mut Report) -> Result<()> {
        let events = self.cfg.relay_events;
        let batch = self.cfg.relay_batch;
        self.dataset(events).await?;
        let store = self.datasets[&events].store.clone();
        let log = brokers::log_of(&store, events).await?;
        let read_pool = self.db.pool(2).await?;
        let schema = self.db.schema("relay");
        let read = PostgresReadStore::from_pool(read_pool.clone()).with_schema(&schema)?;
        read.migrate().await?;
        let what = |who: &str| {
            format!(
                "{who}: {} events, persistent, batches of {batch} confirmed before the next",
                number(events as f64)
            )
        };
        progress!(
            self,
            "relay: raw lapin publisher, {} messages",
            number(events as f64)
        );
        let sample = brokers::raw_rabbitmq(&log, batch).await?;
        report.add(
            "raw.rabbitmq",
            Section::Relay,
            what("raw lapin publisher with confirms to a durable queue"),
            "events/s",
            Compare::Baseline("raw RabbitMQ"),
            sample,
        );
        progress!(self, "relay: to RabbitMQ");
        let sample = brokers::relay_rabbitmq(&store, &read, events, batch).await?;
        report.add(
            "relay.rabbitmq",
            Section::Relay,
            what("relay to RabbitMQ (from the event table, checkpoint committed per batch)"),
            "events/s",
            Compare::Throughput("raw.rabbitmq"),
            sample,
        );
        progress!(
            self,
            "relay: raw async-nats JetStream publisher, {} messages",
            number(events as f64)
        );
        let sample = brokers::raw_nats(&log, batch).await?;
        report.add(
            "raw.nats",
            Section::Relay,
            what("raw async-nats JetStream publisher, acknowledged"),
            "events/s",
            Compare::Baseline("raw NATS"),
            sample,
        );
        progress!(self, "relay: to NATS JetStream");
        let sample = brokers::relay_nats(&store, &read, events, batch).await?;
        report.add(
            "relay.nats",
            Section::Relay,
            what("relay to NATS JetStream (from the event table, checkpoint committed per batch)"),
            "events/s",
            Compare::Throughput("raw.nats"),
            sample,
        );
        read_pool.close().await;
        self.db.drop_schema(&schema).await?;
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // end to end through the brokers

    async fn end_to_end(&mut self, report: &mut Report) -> Result<()> {
        let commands = self.cfg.e2e_commands;
        let store = self.db.event_store("e2e", 4).await?;
        let checkpoints = PostgresReadStore::from_pool(store.pool().clone()).with_schema(store.schema())?;
        checkpoints.migrate().await?;
        let remote_pool = self.db.pool(4).await?;
        let schema = self.db.schema("e2e_remote");
        let remote = PostgresReadStore::from_pool(remote_pool.clone()).with_schema(&schema)?;
        remote.migrate().await?;
        let bank = Chronicle::new(store.clone());
        let accounts: Vec<String> = (0..10).map(account_id).collect();
        for account in &accounts {
            bank.execute(OpenAccount {
                account_id: account.clone(),
                owner: "e2e".into(),
                overdraft_limit: OVERDRAFT,
            })
            .await?;
        }
        let stores = end_to_end::Stores {
            store: &store,
            checkpoints: &checkpoints,
            remote: &remote,
            accounts: &accounts,
        };
        let what = |path: &str| format!("one at a time, {commands} in all: {path}");
        progress!(
            self,
            "end to end: raw round trip through RabbitMQ, {commands} messages"
        );
        report.add(
            "e2e.raw.rabbitmq",
            Section::EndToEnd,
            what("raw lapin, a persistent message from its publish (confirmed) to a consumer's ack"),
            "msg/s",
            Compare::Baseline("raw RabbitMQ round trip"),
            end_to_end::raw_rabbitmq(commands).await?,
        );
        progress!(self, "end to end: through RabbitMQ, {commands} deposits");
        report.add(
            "e2e.rabbitmq",
            Section::EndToEnd,
            what("a deposit from its receipt to the remote view: relay, RabbitMQ, consumer into another schema"),
            "cmd/s",
            Compare::Latency("e2e.raw.rabbitmq"),
            end_to_end::rabbitmq(&stores, commands).await?,
        );
        progress!(
            self,
            "end to end: raw round trip through NATS JetStream, {commands} messages"
        );
        report.add(
            "e2e.raw.nats",
            Section::EndToEnd,
            what("raw async-nats, a message from its publish (acknowledged) to a durable consumer's ack"),
            "msg/s",
            Compare::Baseline("raw NATS round trip"),
            end_to_end::raw_nats(commands).await?,
        );
        progress!(self, "end to end: through NATS JetStream, {commands} deposits");
        report.add(
            "e2e.nats",
            Section::EndToEnd,
            what("a deposit from its receipt to the remote view: relay, JetStream, consumer into another schema"),
            "cmd/s",
            Compare::Latency("e2e.raw.nats"),
            end_to_end::nats(&stores, commands).await?,
        );
        remote_pool.close().await;
        self.db.drop_schema(&schema).await?;
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // read-your-writes

    async fn read_your_writes(&mut self, report: &mut Report) -> Result<()> {
        let cfg = self.cfg.clone();
        let store = self.db.event_store("ryw", 4).await?;
        let read = PostgresReadStore::from_pool(store.pool().clone()).with_schema(store.schema())?;
        read.migrate().await?;
        let read_side = ReadSide::new(store.clone(), read);
        let handle = read_side.runner(AccountBalances).spawn();
        let bank = Chronicle::new(store.clone());
        let accounts = 10;
        for n in 0..accounts {
            bank.execute(OpenAccount {
                account_id: account_id(n),
                owner: format!("owner {n}"),
                overdraft_limit: OVERDRAFT,
            })
            .await?;
        }
        handle.wait_until_caught_up(RYW_TIMEOUT).await?;
        let mut balances = vec![0i64; accounts];
        let mut rng = Rng::new(7);

        for via_handle in [false, true] {
            self.db.checkpoint().await?;
            progress!(
                self,
                "read-your-writes: {} deposits, each followed by a consistent query ({})",
                cfg.ryw_commands,
                if via_handle {
                    "ProjectionHandle::wait_for"
                } else {
                    "ReadSide::query_consistent"
                }
            );
            let mut latencies = Vec::with_capacity(cfg.ryw_commands);
            let started = Instant::now();
            for _ in 0..cfg.ryw_commands {
                let n = rng.below(accounts);
                let amount = 1 + rng.below(1000) as i64;
                balances[n] += amount;
                let receipt: Receipt = bank
                    .execute(Deposit {
                        account_id: account_id(n),
                        amount,
                    })
                    .await?;
                let query = BalanceOf {
                    account_id: account_id(n),
                };
                let t = Instant::now();
                let answer = if via_handle {
                    handle.wait_for(receipt.position, RYW_TIMEOUT).await?;
                    read_side.query(&AccountBalances, &query).await?
                } else {
                    read_side
                        .query_consistent(&AccountBalances, &query, &receipt, RYW_TIMEOUT)
                        .await?
                };
                latencies.push(t.elapsed());
                let balance = answer
                    .ok_or("the balance view has no row for the account")?
                    .balance;
                expect_eq("balance read after its deposit", balance, balances[n])?;
            }
            let sample = Sample::timed(latencies.len(), started.elapsed(), latencies)
                .with("_commands", cfg.ryw_commands as f64);
            let (key, label) = if via_handle {
                (
                    "ryw.handle",
                    "read-your-writes: receipt → `ProjectionHandle::wait_for` + `ReadSide::query` (same process as the runner); rate = deposit + wait + query",
                )
            } else {
                (
                    "ryw.consistent",
                    "read-your-writes: receipt → `ReadSide::query_consistent` returns (live runner); rate = deposit + wait + query",
                )
            };
            report.add(
                key,
                Section::ReadYourWrites,
                label.to_owned(),
                "cmds/s",
                Compare::Latency("raw.single"),
                sample,
            );
        }
        handle.stop().await.into_result()?;

        // The same with the runner in another process, which this one hears of only through the
        // checkpoint table.
        self.db.checkpoint().await?;
        progress!(
            self,
            "read-your-writes: {} deposits, each followed by a wait for a runner in another process",
            cfg.ryw_commands
        );
        let exe = self.worker_exe()?;
        let sample = scaling::remote_ryw::measure(
            &self.db,
            &store,
            &exe,
            &cfg.database_url,
            cfg.ryw_commands,
            RYW_TIMEOUT,
        )
        .await?;
        report.add(
            "ryw.remote",
            Section::ReadYourWrites,
            "read-your-writes across processes: receipt → `ReadSide::wait_for` (the runner in a worker process; this one polls the checkpoint table, every 1 ms five times, then doubling to 20 ms) + the balance read; rate = deposit + wait + query"
                .to_owned(),
            "cmds/s",
            Compare::Latency("raw.single"),
            sample.with("_commands", cfg.ryw_commands as f64),
        );
        self.db.drop_store(store).await
    }
}

/// Latencies of one kind of operation, and their sum (the time the operations took in all).
#[derive(Default)]
struct Timings {
    latencies: Vec<Duration>,
    total: Duration,
}

impl Timings {
    fn push(&mut self, took: Duration) {
        self.latencies.push(took);
        self.total += took;
    }

    fn sample(&self) -> Sample {
        Sample::timed(self.latencies.len(), self.total, self.latencies.clone())
    }
}

/// The bank account again, with a snapshot every 100 events: the same aggregate name (so the same
/// streams) and the same appliers as `bank::Account`.
#[derive(Default, Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SnappedAccount {
    open: bool,
    balance: i64,
    overdraft_limit: i64,
}

#[chronicle::aggregate(name = "bank.Account", snapshot_every = 100)]
impl SnappedAccount {
    #[apply]
    fn opened(&mut self, event: &bank::AccountOpened) {
        self.open = true;
        self.overdraft_limit = event.overdraft_limit;
    }

    #[apply]
    fn deposited(&mut self, event: &bank::MoneyDeposited) {
        self.balance += event.amount;
    }

    #[apply]
    fn withdrawn(&mut self, event: &bank::MoneyWithdrawn) {
        self.balance -= event.amount;
    }
}

/// Writes the events `versions` of an account's stream (version 1 opens it, the others are
/// deposits) with bulk inserts, adding the deposits to `balance`.
async fn insert_stream(
    conn: &mut sqlx::PgConnection,
    table: &str,
    account: &str,
    versions: std::ops::RangeInclusive<i64>,
    rng: &mut Rng,
    balance: &mut i64,
) -> Result<()> {
    let mut rows = EventRows::with_capacity(BULK_CHUNK);
    for version in versions {
        if version == 1 {
            rows.open(account)?;
        } else {
            let amount = 1 + rng.below(1000) as i64;
            *balance += amount;
            rows.deposit(account, version, amount)?;
        }
        if rows.len() == BULK_CHUNK {
            rows.insert_all(table, conn).await?;
            rows = EventRows::with_capacity(BULK_CHUNK);
        }
    }
    if rows.len() > 0 {
        rows.insert_all(table, conn).await?;
    }
    Ok(())
}

/// Single-deposit rows for `n` events over `streams` streams (versions counting up per stream).
fn deposit_rows(tag: &str, n: usize, streams: usize, seed: u64) -> Result<EventRows> {
    let mut rng = Rng::new(seed);
    let mut rows = EventRows::with_capacity(n);
    for i in 0..n {
        let account = format!("{tag}-{:04}", i % streams);
        rows.deposit(&account, (i / streams) as i64 + 1, 1 + rng.below(1000) as i64)?;
    }
    Ok(rows)
}

/// Prepares the single insert on a connection with a few rows of their own streams.
async fn warm_up(sql: &str, conn: &mut sqlx::PgConnection, tag: &str) -> Result<()> {
    let rows = deposit_rows(tag, 20, 1, 99)?;
    for i in 0..rows.len() {
        rows.insert_one(sql, i, conn).await?;
    }
    Ok(())
}

/// What a measurement next to raw writers is called in the progress lines.
fn raw_what(target: &str, reading: Reading) -> String {
    match reading {
        Reading::Sequential => format!("raw sqlx reads + raw {target} writes"),
        Reading::Ahead => format!("raw sqlx reads ahead + raw {target} writes"),
    }
}

/// One run's catch-ups of a view next to raw writers of the same keys or rows.
#[derive(Default)]
struct Measured {
    runner: Option<CatchUp>,
    sequential: Option<CatchUp>,
    ahead: Option<CatchUp>,
}

impl Measured {
    fn record(&mut self, reading: Option<Reading>, catch_up: CatchUp) {
        let slot = match reading {
            None => &mut self.runner,
            Some(Reading::Sequential) => &mut self.sequential,
            Some(Reading::Ahead) => &mut self.ahead,
        };
        *slot = Some(catch_up);
    }

    /// Adds the rows: the sequential raw writer (a baseline), the read-ahead one (a baseline,
    /// compared with the first too) and the runner (compared with both), under `keys` (runner,
    /// sequential, read-ahead) with `labels` in the same order and the baselines' `tags`;
    /// `settings` (the target server's) go in the sequential baseline's notes.
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        report: &mut Report,
        target: &Target,
        section: Section,
        keys: [&str; 3],
        labels: [String; 3],
        tags: [&'static str; 2],
        settings: String,
    ) {
        let [runner_key, raw_key, ahead_key] = keys;
        let [runner_label, raw_label, ahead_label] = labels;
        let Some(raw) = self.sequential else {
            return;
        };
        report.add(
            raw_key,
            section,
            raw_label,
            "events/s",
            Compare::Baseline(tags[0]),
            raw.sample(target).remark(settings),
        );
        if let Some(ahead) = self.ahead {
            report.add(
                ahead_key,
                section,
                ahead_label,
                "events/s",
                Compare::ThroughputOf(vec![raw_key.to_owned()]),
                ahead.sample(target),
            );
        }
        if let Some(runner) = self.runner {
            let mut sample = runner
                .sample(target)
                .with("÷ raw, same run", runner.rate() / raw.rate());
            let mut compare = vec![raw_key.to_owned()];
            if let Some(ahead) = self.ahead {
                sample = sample.with("÷ raw read-ahead, same run", runner.rate() / ahead.rate());
                compare.push(ahead_key.to_owned());
            }
            report.add(
                runner_key,
                section,
                runner_label,
                "events/s",
                Compare::ThroughputOf(compare),
                sample,
            );
        }
    }
}
