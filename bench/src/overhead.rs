//! What being observed costs: the bank's deposits from several clients and a catch-up of its
//! balances, run bare (no metrics recorder, no tracing subscriber) and observed (a Prometheus
//! recorder, and a tracing subscriber that records every span's fields, debug spans included),
//! in the same process and run.
//!
//! Each flavour runs on a Tokio runtime of its own, built for it: the observed one's threads
//! carry the recorder and the subscriber as their thread's defaults, the bare one's carry
//! nothing, so neither can leak into the other (a global recorder or subscriber, once set, stays
//! for the life of the process). The stores are opened inside the runtime that uses them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bank::views::postgres::AccountBalances;
use bank::{Deposit, OpenAccount};
use chronicle::sqlx::postgres::PgPoolOptions;
use chronicle::{Chronicle, PostgresReadStore, PostgresStore, ProjectionRunner};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

use crate::db::{account_id, Rng};
use crate::report::Sample;
use crate::Result;

/// What one flavour runs, and where.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub url: String,
    /// A migrated, empty event store's schema.
    pub events_schema: String,
    /// A migrated, empty read store's schema.
    pub view_schema: String,
    pub clients: usize,
    pub accounts: usize,
    pub deposits: usize,
    pub catchup_batch: usize,
}

/// The two measurements of one flavour.
pub(crate) struct Measured {
    pub commands: Sample,
    pub catch_up: Sample,
}

/// Runs `workload` on a runtime of its own, observed or bare, started from a thread of its own
/// (a thread of the harness's blocking pool would keep the instruments for later work).
pub(crate) async fn measure(workload: Workload, observed: bool) -> Result<Measured> {
    let (done, measured) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = done.send(measure_here(&workload, observed));
    });
    measured.await?
}

fn measure_here(workload: &Workload, observed: bool) -> Result<Measured> {
    let instruments = observed.then(Instruments::get);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(instruments) = instruments {
        builder.on_thread_start(move || instruments.adopt_for_this_thread());
        // The future given to `block_on` runs on this thread, which the runtime did not start.
        instruments.adopt_for_this_thread();
    }
    let runtime = builder.build()?;
    let measured = runtime.block_on(run(workload, instruments));
    runtime.shutdown_timeout(Duration::from_secs(10));
    measured
}

/// The recorder and the subscriber of the observed flavour, made once for the process.
struct Instruments {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    dispatch: Dispatch,
    spans: Arc<AtomicU64>,
}

impl Instruments {
    fn get() -> &'static Instruments {
        static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
        INSTRUMENTS.get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let spans = Arc::new(AtomicU64::new(0));
            let subscriber = tracing_subscriber::registry().with(Recording(spans.clone()));
            metrics::with_local_recorder(&recorder, chronicle::describe_metrics);
            Instruments {
                recorder,
                handle,
                dispatch: Dispatch::new(subscriber),
                spans,
            }
        })
    }

    /// Makes the recorder and the subscriber this thread's defaults for as long as it lives:
    /// the guards are never dropped, on threads that end with the measurement (the runtime's,
    /// and the one that started it).
    fn adopt_for_this_thread(&'static self) {
        std::mem::forget(metrics::set_default_local_recorder(&self.recorder));
        std::mem::forget(tracing::dispatcher::set_default(&self.dispatch));
    }
}

/// The fields of an open span, formatted as an exporter would.
#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }
}

/// Records every span's fields and counts the spans that closed.
struct Recording(Arc<AtomicU64>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recording {
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attributes.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_close(&self, _id: Id, _ctx: Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The deposits (timed), after the accounts are opened; then the catch-up (timed). Checks what
/// the observed flavour's recorder counted.
async fn run(workload: &Workload, instruments: Option<&'static Instruments>) -> Result<Measured> {
    let pool = PgPoolOptions::new()
        .max_connections(workload.clients as u32)
        .connect(&workload.url)
        .await?;
    let store = PostgresStore::from_pool(pool.clone()).with_schema(&workload.events_schema)?;
    let bank = Chronicle::new(store.clone());
    for n in 0..workload.accounts {
        bank.execute(OpenAccount {
            account_id: account_id(n),
            owner: format!("owner {n}"),
            overdraft_limit: 0,
        })
        .await?;
    }
    let spans_before = instruments.map_or(0, |i| i.spans.load(Ordering::Relaxed));
    let started = Instant::now();
    let mut handles = Vec::new();
    for client in 0..workload.clients {
        let bank = bank.clone();
        let owned: Vec<usize> = (client..workload.accounts).step_by(workload.clients).collect();
        let count = workload.deposits / workload.clients;
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x0b5e + client as u64);
            let mut latencies = Vec::with_capacity(count);
            for _ in 0..count {
                let command = Deposit {
                    account_id: account_id(owned[rng.below(owned.len())]),
                    amount: 1 + rng.below(1000) as i64,
                };
                let t = Instant::now();
                bank.execute(command).await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, crate::Error>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(workload.deposits);
    for handle in handles {
        latencies.extend(handle.await??);
    }
    let deposits = latencies.len();
    let mut commands =
        Sample::timed(deposits, started.elapsed(), latencies).with("_commands", deposits as f64);
    if let Some(instruments) = instruments {
        let counted = counted_deposits(&instruments.handle)?;
        if counted < deposits as f64 {
            return Err(format!("the recorder counted {counted} deposits of {deposits}").into());
        }
        let spans = instruments.spans.load(Ordering::Relaxed) - spans_before;
        commands = commands.with("spans recorded per command", spans as f64 / deposits as f64);
    }

    let events = workload.accounts + deposits;
    let read = PostgresReadStore::from_pool(pool.clone()).with_schema(&workload.view_schema)?;
    let started = Instant::now();
    let runner = ProjectionRunner::new(store, read, AccountBalances)
        .batch_size(workload.catchup_batch)
        .spawn();
    runner.wait_until_caught_up(Duration::from_secs(300)).await?;
    let elapsed = started.elapsed();
    runner.stop().await.into_result()?;
    let rows: i64 = chronicle::sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"{}\".bank_account_balances",
        workload.view_schema
    ))
    .fetch_one(&pool)
    .await?;
    let catch_up = Sample::timed(events, elapsed, Vec::new())
        .with("_events", events as f64)
        .with("_view_rows", rows as f64);
    pool.close().await;
    Ok(Measured { commands, catch_up })
}

/// The appended deposits the recorder counted so far, from the text it renders.
fn counted_deposits(handle: &PrometheusHandle) -> Result<f64> {
    let series = format!(
        "chronicle_commands_total{{command=\"{}\",outcome=\"appended\"}} ",
        std::any::type_name::<Deposit>()
    );
    let rendered = handle.render();
    let line = rendered
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .ok_or_else(|| format!("no {series}in what the recorder renders"))?;
    Ok(line.trim().parse()?)
}
