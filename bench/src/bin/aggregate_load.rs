//! How long loading an aggregate with a long stream takes, with and without snapshots.
//!
//! ```sh
//! cargo run --release -p chronicle-bench --bin aggregate_load -- [LOADS] [EVENTS]
//! ```
//!
//! Writes a stream of `EVENTS` (default 10,000) events to a fresh schema of the Postgres database
//! at `DATABASE_URL` (default: the local `chronicle_test` database), then loads the aggregate
//! `LOADS` times (default 200) in each setting and prints the median and 99th percentile:
//!
//! - without snapshots: every event is read and applied;
//! - with a snapshot at the head of the stream (the best case);
//! - with a snapshot 99 events behind the head (the worst case of `snapshot_every = 100`).
//!
//! The schema is dropped at the end. Self-contained: it shares nothing with the harness.

use std::error::Error;
use std::time::{Duration, Instant};

use chronicle::prelude::*;
use chronicle::{EventSet, Loaded, NewEvent, Snapshot};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/chronicle_test";
const DEFAULT_LOADS: usize = 200;
const DEFAULT_EVENTS: u64 = 10_000;
const WARMUP_LOADS: usize = 3;
/// Events per append while writing the stream.
const APPEND_BATCH: u64 = 1_000;
const ID: &str = "c-1";

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bench.Incremented")]
pub struct Incremented {
    pub by: i64,
}

/// The state is the same in both aggregates; only the snapshot setting differs.
#[derive(Default, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    value: i64,
    increments: u64,
}

#[aggregate(name = "bench.Counter")]
impl Counter {
    #[apply]
    fn incremented(&mut self, event: &Incremented) {
        self.value += event.by;
        self.increments += 1;
    }
}

/// The same stream (same aggregate name), read with snapshots.
#[derive(Default, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnappedCounter {
    value: i64,
    increments: u64,
}

#[aggregate(name = "bench.Counter", snapshot_every = 100)]
impl SnappedCounter {
    #[apply]
    fn incremented(&mut self, event: &Incremented) {
        self.value += event.by;
        self.increments += 1;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let loads: usize = args.next().map_or(Ok(DEFAULT_LOADS), |a| a.parse())?;
    let events: u64 = args.next().map_or(Ok(DEFAULT_EVENTS), |a| a.parse())?;
    if loads == 0 || events < 100 {
        return Err("LOADS must be at least 1 and EVENTS at least 100".into());
    }
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let schema = format!("bench_load_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let pool = PgPoolOptions::new().max_connections(4).connect(&url).await?;
    let store = PostgresStore::from_pool(pool.clone()).with_schema(&schema)?;
    store.migrate().await?;
    println!(
        "aggregate load: {events} events in schema {schema}, {loads} loads per setting (after {WARMUP_LOADS} warm-up loads)"
    );

    let result = run(&store, loads, events).await;
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&pool)
        .await?;
    result
}

async fn run(store: &PostgresStore, loads: usize, events: u64) -> Result<(), Box<dyn Error>> {
    let app = Chronicle::new(store.clone());
    let stream = format!("bench.Counter-{ID}");
    let started = Instant::now();
    write_stream(store, &stream, events).await?;
    println!("wrote the stream in {:.2?}", started.elapsed());

    let expected = app.load::<Counter>(ID).await?.state;
    let full = measure(
        "without snapshots",
        loads,
        || app.load::<Counter>(ID),
        |loaded| loaded.version == events && loaded.state == expected,
    )
    .await?;

    // A snapshot 99 events behind the head: written by hand, since commands would snapshot at
    // multiples of 100 only.
    let behind = events - 99;
    let old = app.load_at_version::<SnappedCounter>(ID, behind).await?;
    store
        .write_snapshot(Snapshot {
            stream_id: stream.clone(),
            aggregate_type: "bench.Counter".into(),
            snapshot_version: 1,
            stream_version: behind,
            state: serde_json::value::to_raw_value(&old.state)?,
            taken_at: chrono_now(),
        })
        .await?;
    let worst = measure(
        "with a snapshot 99 events behind",
        loads,
        || app.load::<SnappedCounter>(ID),
        |loaded| {
            loaded.snapshot == Some(behind)
                && loaded.version == events
                && loaded.state.value == expected.value
        },
    )
    .await?;

    let at = app.take_snapshot::<SnappedCounter>(ID).await?;
    assert_eq!(at, Some(events));
    let best = measure(
        "with a snapshot at the head",
        loads,
        || app.load::<SnappedCounter>(ID),
        |loaded| loaded.snapshot == Some(events) && loaded.state.value == expected.value,
    )
    .await?;

    println!(
        "median speed-up: {:.0}x with a snapshot at the head, {:.0}x with one 99 events behind",
        full.median.as_secs_f64() / best.median.as_secs_f64(),
        full.median.as_secs_f64() / worst.median.as_secs_f64()
    );
    Ok(())
}

/// Appends `events` increments to `stream` in batches, as one command each.
async fn write_stream(store: &PostgresStore, stream: &str, events: u64) -> Result<(), Box<dyn Error>> {
    let mut version = 0;
    while version < events {
        let batch = APPEND_BATCH.min(events - version);
        let command_id = uuid::Uuid::new_v4();
        let metadata = chronicle::Metadata {
            command_id,
            correlation_id: command_id,
            causation_id: command_id,
            actor: Some("bench".into()),
            extra: Default::default(),
        };
        let new_events = (0..batch)
            .map(|i| {
                let event = CounterEvent::from(Incremented {
                    by: ((version + i) % 7) as i64 - 3,
                });
                Ok(NewEvent {
                    event_id: uuid::Uuid::new_v4(),
                    event_type: event.event_type(),
                    event_version: event.event_version(),
                    payload: event.to_payload()?,
                    metadata: metadata.clone(),
                })
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        store.append(stream, version, new_events).await?;
        version += batch;
    }
    Ok(())
}

struct Stats {
    median: Duration,
}

/// Loads `loads` times after a warm-up, checks every result, prints the distribution.
async fn measure<A, F, Fut>(
    setting: &str,
    loads: usize,
    load: F,
    check: impl Fn(&Loaded<A>) -> bool,
) -> Result<Stats, Box<dyn Error>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Loaded<A>, chronicle::StoreError>>,
{
    for _ in 0..WARMUP_LOADS {
        load().await?;
    }
    let mut times = Vec::with_capacity(loads);
    for _ in 0..loads {
        let started = Instant::now();
        let loaded = load().await?;
        times.push(started.elapsed());
        if !check(&loaded) {
            return Err(format!("{setting}: unexpected load result (version {})", loaded.version).into());
        }
    }
    times.sort();
    let percentile = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    let median = percentile(0.5);
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{setting:>34}: median {:>9.3?}  p99 {:>9.3?}  mean {:>9.3?}  min {:>9.3?}  max {:>9.3?}",
        median,
        percentile(0.99),
        mean,
        times[0],
        times[times.len() - 1]
    );
    Ok(Stats { median })
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
