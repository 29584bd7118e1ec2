//! Chronicle's benchmark harness: the bank workload, aggregate loads, projection catch-up and
//! read-your-writes, each next to the physical limit of the same Postgres measured with plain
//! sqlx in the same invocation (the raw baseline).
//!
//! The binary `harness` parses the command line into a [`Config`] and prints the [`Report`] as one
//! markdown table; the smoke test runs [`Config::quick`] through [`run`] and checks the counts.
//!
//! Everything happens in fresh schemas of the database (`chb_*`), dropped at the end.

mod brokers;
pub mod counting;
mod db;
mod end_to_end;
mod overhead;
mod polyglot;
mod report;
mod scaling;
mod scenarios;

pub use crate::polyglot::{DEFAULT_MYSQL_URL, DEFAULT_REDIS_URL};
pub use crate::report::{median, number, percentile, Compare, Machine, Report, Row, Sample, Section};
pub use crate::scaling::partition_worker;

/// Any failure of the harness (a wrong count is one too).
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The scenarios, by the names `--only` takes.
pub const SCENARIOS: &[&str] = &[
    "raw",
    "commands",
    "contention",
    "load",
    "catchup",
    "overhead",
    "portability",
    "redis",
    "mariadb",
    "scale",
    "failover",
    "ryw",
    "relay",
    "e2e",
];

/// The database used unless `DATABASE_URL` says otherwise.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/chronicle_bench";

/// What to measure, and how much.
#[derive(Debug, Clone)]
pub struct Config {
    /// The benchmark database (created if missing).
    pub database_url: String,
    /// The MariaDB server of the `mariadb` scenario (`MYSQL_URL`); it works in scratch databases
    /// of its own there, dropped after each measurement.
    pub mysql_url: String,
    /// The Redis server of the `redis` scenario (`REDIS_URL`); it works under key prefixes of its
    /// own there, deleted after each measurement.
    pub redis_url: String,
    /// How many times every measurement is made; the table shows medians.
    pub runs: usize,
    /// The scenarios to run ([`SCENARIOS`]); all when empty.
    pub only: Vec<String>,
    /// Raw (i): single-event autocommit inserts on one connection.
    pub raw_single: usize,
    /// Raw (ii): single-event inserts in all, spread over `raw_connections`.
    pub raw_concurrent: usize,
    /// Raw (ii): connections.
    pub raw_connections: usize,
    /// Raw (iii): transactions of `batch_size` events; raw (iv) then reads them all back.
    pub raw_batches: usize,
    /// Raw (iii): events per transaction.
    pub batch_size: usize,
    /// Commands: accounts opened.
    pub accounts: usize,
    /// Commands: deposits after the accounts are open.
    pub deposits: usize,
    /// Commands: client counts (tokio tasks sharing one `Chronicle`), one measurement each.
    pub clients: Vec<usize>,
    /// Contention: accounts all clients deposit to.
    pub hot_accounts: usize,
    /// Contention: clients.
    pub hot_clients: usize,
    /// Contention: deposits in all.
    pub hot_deposits: usize,
    /// Aggregate load: events in the stream.
    pub load_events: usize,
    /// Aggregate load: loads per run.
    pub load_iterations: usize,
    /// Projection catch-up: event counts, one measurement each.
    pub catchup_events: Vec<usize>,
    /// Projection catch-up: accounts the events are spread over.
    pub catchup_accounts: usize,
    /// Projection catch-up: the runner's batch size (events per read and per read-model
    /// transaction).
    pub catchup_batch: usize,
    /// Projection catch-up: how long one catch-up may take. One that does not finish in time is
    /// reported with the events it applied by then, and not run again.
    pub catchup_budget: std::time::Duration,
    /// Overhead: deposits from `raw_connections` clients (after `accounts` openings), bare and
    /// observed; the catch-up then runs over every event they wrote.
    pub overhead_deposits: usize,
    /// Redis catch-up: event counts, one measurement each (batches of `catchup_batch`).
    pub redis_events: Vec<usize>,
    /// MariaDB catch-up: event counts, one measurement each (batches of `catchup_batch`).
    pub mariadb_events: Vec<usize>,
    /// Scale-out: the data set a partitioned view catches up over (events).
    pub scale_events: usize,
    /// Scale-out: worker process counts, one measurement each.
    pub scale_workers: Vec<usize>,
    /// Scale-out and failover: how many partitions the view has.
    pub scale_partitions: u32,
    /// Scale-out: events per batch of each partition (and of each raw connection).
    pub scale_batch: usize,
    /// Failover: worker processes kept running.
    pub failover_workers: usize,
    /// Failover: how many times a worker is killed (`kill -9`), and paused past its lease.
    pub failover_kills: usize,
    /// Failover: pauses (`SIGSTOP` until its partitions moved, then `SIGCONT`).
    pub failover_pauses: usize,
    /// Failover: the workers' lease.
    pub failover_lease: std::time::Duration,
    /// The binary that runs `partition-worker` (the harness itself unless set: tests that call
    /// [`run`] name the harness binary here).
    pub worker_exe: Option<std::path::PathBuf>,
    /// Read-your-writes: commands per run (and per waiting method).
    pub ryw_commands: usize,
    /// Relays: events published per run, to each broker.
    pub relay_events: usize,
    /// Relays: events per batch (one broker round of confirms), for the relay and the raw
    /// publisher alike.
    pub relay_batch: usize,
    /// End to end: commands per run through each broker, each timed from its receipt to a
    /// consumer's read model showing it.
    pub e2e_commands: usize,
}

impl Config {
    /// The full-size benchmark.
    pub fn full(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            mysql_url: DEFAULT_MYSQL_URL.to_owned(),
            redis_url: DEFAULT_REDIS_URL.to_owned(),
            runs: 3,
            only: Vec::new(),
            raw_single: 20_000,
            raw_concurrent: 40_000,
            raw_connections: 8,
            raw_batches: 3_000,
            batch_size: 100,
            accounts: 1_000,
            deposits: 20_000,
            clients: vec![1, 8, 32],
            hot_accounts: 10,
            hot_clients: 8,
            hot_deposits: 4_000,
            load_events: 10_000,
            load_iterations: 100,
            catchup_events: vec![100_000, 1_000_000],
            catchup_accounts: 1_000,
            // Catching up is where batch handlers pay off: large batches amortize each read,
            // statement and commit.
            catchup_batch: 5_000,
            catchup_budget: std::time::Duration::from_secs(300),
            overhead_deposits: 20_000,
            redis_events: vec![100_000, 1_000_000],
            mariadb_events: vec![100_000, 1_000_000],
            scale_events: 1_000_000,
            scale_workers: vec![1, 2, 4],
            scale_partitions: 4,
            scale_batch: chronicle::DEFAULT_BATCH_SIZE,
            failover_workers: 3,
            failover_kills: 10,
            failover_pauses: 3,
            failover_lease: std::time::Duration::from_secs(2),
            worker_exe: None,
            ryw_commands: 500,
            relay_events: 20_000,
            relay_batch: 500,
            e2e_commands: 500,
        }
    }

    /// Small sizes for a smoke run (a few seconds per scenario), one run.
    pub fn quick(database_url: impl Into<String>) -> Self {
        Self {
            runs: 1,
            raw_single: 300,
            raw_concurrent: 800,
            raw_batches: 20,
            accounts: 50,
            deposits: 400,
            hot_deposits: 160,
            load_events: 1_000,
            load_iterations: 10,
            catchup_events: vec![2_000, 10_000],
            catchup_accounts: 100,
            catchup_batch: 1_000,
            catchup_budget: std::time::Duration::from_secs(60),
            overhead_deposits: 2_000,
            redis_events: vec![2_000, 10_000],
            mariadb_events: vec![2_000, 10_000],
            scale_events: 10_000,
            failover_kills: 2,
            failover_pauses: 1,
            ryw_commands: 30,
            relay_events: 300,
            relay_batch: 100,
            e2e_commands: 30,
            ..Self::full(database_url)
        }
    }

    /// The configuration of the command line (`harness --help`), with `DATABASE_URL` from the
    /// environment.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let args: Vec<String> = args.into_iter().collect();
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
        let mut config = if args.iter().any(|a| a == "--quick") {
            Self::quick(url)
        } else {
            Self::full(url)
        };
        if let Ok(url) = std::env::var("MYSQL_URL") {
            config.mysql_url = url;
        }
        if let Ok(url) = std::env::var("REDIS_URL") {
            config.redis_url = url;
        }
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--quick" => {}
                "--runs" => config.runs = value()?.parse::<usize>()?.max(1),
                "--only" => {
                    config.only = list(&value()?);
                    if let Some(unknown) = config.only.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
                        return Err(
                            format!("unknown scenario `{unknown}`; known: {}", SCENARIOS.join(",")).into(),
                        );
                    }
                }
                "--catchup-events" => config.catchup_events = numbers(&value()?)?,
                "--catchup-batch" => config.catchup_batch = value()?.parse::<usize>()?.max(1),
                "--catchup-budget" => {
                    config.catchup_budget = std::time::Duration::from_secs(value()?.parse()?);
                }
                "--overhead-deposits" => config.overhead_deposits = value()?.parse::<usize>()?.max(1),
                "--redis-events" => config.redis_events = numbers(&value()?)?,
                "--mariadb-events" => config.mariadb_events = numbers(&value()?)?,
                "--scale-events" => config.scale_events = value()?.replace('_', "").parse::<usize>()?.max(1),
                "--scale-workers" => config.scale_workers = numbers(&value()?)?,
                "--failover-kills" => config.failover_kills = value()?.parse()?,
                "--failover-pauses" => config.failover_pauses = value()?.parse()?,
                "--clients" => config.clients = numbers(&value()?)?,
                "--accounts" => config.accounts = value()?.parse()?,
                "--deposits" => config.deposits = value()?.parse()?,
                "--load-events" => config.load_events = value()?.parse()?,
                "--ryw-commands" => config.ryw_commands = value()?.parse()?,
                "--relay-events" => config.relay_events = value()?.parse::<usize>()?.max(1),
                "--relay-batch" => config.relay_batch = value()?.parse::<usize>()?.max(1),
                "--e2e-commands" => config.e2e_commands = value()?.parse::<usize>()?.max(1),
                _ => return Err(format!("unknown argument `{arg}` (try --help)").into()),
            }
        }
        if config.redis_events.contains(&0) || config.mariadb_events.contains(&0) {
            return Err("event counts must be positive".into());
        }
        if config.scale_workers.contains(&0) || config.scale_workers.iter().any(|&w| w > 64) {
            return Err("worker counts must be between 1 and 64".into());
        }
        if config.clients.contains(&0) || config.accounts == 0 || config.load_events == 0 {
            return Err("client counts, accounts and load events must be positive".into());
        }
        Ok(config)
    }

    /// Whether the scenario `name` is to run.
    pub fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }
}

/// The usage text of the binary.
pub const USAGE: &str = "\
harness [--runs N] [--quick]
        [--only raw,commands,contention,load,catchup,overhead,portability,redis,mariadb,scale,failover,ryw,relay,e2e]
        [--catchup-events N[,N...]] [--catchup-batch N] [--catchup-budget SECONDS] [--overhead-deposits N]
        [--redis-events N[,N...]] [--mariadb-events N[,N...]] [--clients N[,N...]]
        [--accounts N] [--deposits N] [--load-events N] [--ryw-commands N]
        [--relay-events N] [--relay-batch N] [--e2e-commands N]
        [--scale-events N] [--scale-workers N[,N...]] [--failover-kills N] [--failover-pauses N]

Measures Chronicle on Postgres next to the raw limit of the same server and prints one markdown
table of medians. DATABASE_URL (default postgres://postgres@127.0.0.1:5432/chronicle_bench) names
the database; it is created if missing, and everything happens in fresh schemas dropped at the end.
The relay and end-to-end (e2e) scenarios publish to RabbitMQ (RABBITMQ_URL, default amqp://guest:guest@127.0.0.1:5672/%2f)
and NATS JetStream (NATS_URL, default 127.0.0.1:4222), on exchanges, queues and streams it deletes.
The overhead scenario runs 20,000 deposits from 8 clients and a catch-up over what they wrote twice,
bare (no metrics recorder, no tracing subscriber) and observed (a Prometheus recorder and a subscriber
recording every span), each on a Tokio runtime of its own, beside raw (ii) and raw (iv).
The portability scenario catches up the portable `bank::views::AccountBalances` (`&mut Sql`) on a
`SqlReadStore` over Postgres next to the direct `bank::views::postgres` one, over the catch-up's
data sets and batch size. The redis and mariadb scenarios catch up a balance view from the
Postgres event table into Redis (REDIS_URL, default redis://127.0.0.1:6379; keys under a prefix
`chb_*` it deletes) and the portable view into MariaDB (MYSQL_URL, default
mysql://root@127.0.0.1:3306/test; scratch databases `chb_*` it drops), each next to a raw writer of
the same keys or rows with the target's own client.
The scale scenario catches a partitioned view (4 partitions) up over the data set with 1, 2 and 4
worker processes (the harness binary run as `harness partition-worker`), for a view writing one
statement per event and one with batch handlers, beside raw sqlx applying the same statements on
1 and 4 connections. The failover scenario keeps 3 workers up with live deposits and kills
(`kill -9`) or pauses (`SIGSTOP`) one at random moments, timing until every partition advances.
Run it in release: cargo run --release -p chronicle-bench --bin harness";

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn numbers(value: &str) -> Result<Vec<usize>> {
    list(value)
        .iter()
        .map(|s| s.replace('_', "").parse::<usize>().map_err(Into::into))
        .collect()
}

/// Runs the configured scenarios `config.runs` times and returns the report. Progress goes to
/// stderr. The schemas it created are dropped even when a scenario fails.
pub async fn run(config: &Config) -> Result<Report> {
    let db = db::Db::open(&config.database_url).await?;
    let mut report = Report {
        machine: db.machine().await?,
        runs: config.runs,
        rows: Vec::new(),
    };
    let mut bench = scenarios::Bench::new(config.clone(), db);
    let outcome = bench.run_all(&mut report).await;
    let cleanup = bench.cleanup().await;
    outcome?;
    cleanup?;
    Ok(report)
}
