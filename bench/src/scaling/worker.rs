//! One worker of a partitioned view in a process of its own: what `harness partition-worker`
//! runs. The harness starts 1, 2 or 4 of them on the same view and kills some for the failover
//! measurement.
//!
//! Configured by the environment (`CHB_*`, set by [`Worker::command`]). It prints `ready` once it
//! has a slot among the workers, and when its standard input closes it stops (committing
//! nothing after), prints `handled <events> cpu_ms <ms>` and exits. It also exits by itself after
//! `CHB_LIFETIME_S`, should the harness be gone.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chronicle::{PartitionedRunner, PostgresReadStore, PostgresStore, Projection};

use super::views::{BatchBalances, PerEventBalances};
use crate::Result;

/// Which view a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// [`PerEventBalances`]: one statement per event.
    PerEvent,
    /// [`BatchBalances`]: one statement per run.
    Batch,
}

impl View {
    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::PerEvent => "per_event",
            Self::Batch => "batch",
        }
    }

    pub(crate) fn projection_name(self) -> &'static str {
        match self {
            Self::PerEvent => PerEventBalances::NAME,
            Self::Batch => BatchBalances::NAME,
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "per_event" => Ok(Self::PerEvent),
            "batch" => Ok(Self::Batch),
            other => Err(format!("unknown view `{other}` (per_event, batch)").into()),
        }
    }
}

/// What a worker process is started with.
#[derive(Debug, Clone)]
pub(crate) struct Worker {
    pub(crate) database_url: String,
    pub(crate) events_schema: String,
    pub(crate) read_schema: String,
    pub(crate) view: View,
    pub(crate) partitions: u32,
    pub(crate) batch: usize,
    pub(crate) lease: Duration,
    pub(crate) poll: Duration,
    pub(crate) lifetime: Duration,
}

impl Worker {
    /// The command that starts this worker as a process of `exe` (the harness binary).
    pub(crate) fn command(&self, exe: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(exe);
        command
            .arg("partition-worker")
            .env("CHB_DATABASE_URL", &self.database_url)
            .env("CHB_EVENTS_SCHEMA", &self.events_schema)
            .env("CHB_READ_SCHEMA", &self.read_schema)
            .env("CHB_VIEW", self.view.key())
            .env("CHB_PARTITIONS", self.partitions.to_string())
            .env("CHB_BATCH", self.batch.to_string())
            .env("CHB_LEASE_MS", self.lease.as_millis().to_string())
            .env("CHB_POLL_MS", self.poll.as_millis().to_string())
            .env("CHB_LIFETIME_S", self.lifetime.as_secs().max(1).to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        command
    }

    fn from_env() -> Result<Self> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let millis = |name: &str| -> Result<Duration> { Ok(Duration::from_millis(var(name)?.parse()?)) };
        Ok(Self {
            database_url: var("CHB_DATABASE_URL")?,
            events_schema: var("CHB_EVENTS_SCHEMA")?,
            read_schema: var("CHB_READ_SCHEMA")?,
            view: View::parse(&var("CHB_VIEW")?)?,
            partitions: var("CHB_PARTITIONS")?.parse()?,
            batch: var("CHB_BATCH")?.parse()?,
            lease: millis("CHB_LEASE_MS")?,
            poll: millis("CHB_POLL_MS")?,
            lifetime: Duration::from_secs(var("CHB_LIFETIME_S")?.parse()?),
        })
    }
}

/// The body of `harness partition-worker`.
pub async fn partition_worker() -> Result<()> {
    let worker = Worker::from_env()?;
    let lifetime = worker.lifetime;
    std::thread::spawn(move || {
        std::thread::sleep(lifetime);
        std::process::exit(3);
    });
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        let _ = closed_tx.send(());
    });
    let events = PostgresStore::connect(&worker.database_url)
        .await?
        .with_schema(&worker.events_schema)?;
    let read = PostgresReadStore::connect(&worker.database_url)
        .await?
        .with_schema(&worker.read_schema)?;
    let handled = match worker.view {
        View::PerEvent => {
            let view = PerEventBalances::default();
            let handled = view.handled.clone();
            work(&worker, events, read, view, closed_rx).await?;
            handled
        }
        View::Batch => {
            let view = BatchBalances::default();
            let handled = view.handled.clone();
            work(&worker, events, read, view, closed_rx).await?;
            handled
        }
    };
    println!("handled {} cpu_ms {}", handled.load(Ordering::Relaxed), cpu_ms());
    Ok(())
}

async fn work<P: Projection<Store = PostgresReadStore>>(
    worker: &Worker,
    events: PostgresStore,
    read: PostgresReadStore,
    view: P,
    closed: tokio::sync::oneshot::Receiver<()>,
) -> Result<()> {
    let handle = PartitionedRunner::new(events, read, view, worker.partitions)
        .batch_size(worker.batch)
        .poll_interval(worker.poll)
        .lease(worker.lease)
        .spawn();
    loop {
        if handle.slot().is_some() {
            break;
        }
        if handle.is_finished() {
            return handle.join().await.map_err(Into::into);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("ready");
    let _ = closed.await;
    handle.stop().await.into_result()?;
    Ok(())
}

/// The CPU time this process used, user and system, in milliseconds (from `/proc/self/stat`,
/// at the usual 100 ticks per second); 0 where that cannot be read.
fn cpu_ms() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // The fields after the command name (which may hold spaces) start at its closing `)`:
    // utime and stime are the 12th and 13th of them.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    ticks * 10
}
