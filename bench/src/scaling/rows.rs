//! The report's rows of the scale-out and failover scenarios.

use std::time::Duration;

use super::catch_up::{Data, Scaled};
use super::failover::{Failovers, Settings as FailoverSettings};
use super::worker::View;
use crate::report::{number, Compare, Report, Sample, Section};

/// The key of a partitioned catch-up's row.
pub(crate) fn view_key(view: View, partitions: u32, workers: usize, events: usize) -> String {
    format!("scale.{}.{partitions}x{workers}.{events}", view.key())
}

/// The key of a raw baseline's row.
pub(crate) fn raw_key(connections: u32, events: usize) -> String {
    format!("scale.raw.{connections}.{events}")
}

fn sample(scaled: &Scaled, events: usize) -> Sample {
    let log = events.max(1) as f64;
    let mut sample = Sample {
        rate: Some(scaled.rate()),
        ..Sample::default()
    };
    if !scaled.workers.is_empty() {
        let handled: Vec<f64> = scaled.workers.iter().map(|w| w.handled as f64).collect();
        let mean = handled.iter().sum::<f64>() / handled.len() as f64;
        let max = handled.iter().copied().fold(0.0, f64::max);
        let cpu: Duration = scaled.workers.iter().map(|w| w.cpu).sum();
        sample = sample
            .with("read per worker ÷ log, mean", mean / log)
            .with("max", max / log)
            .with("workers' CPU s", cpu.as_secs_f64());
    }
    let mut sample = sample
        .with("CPUs busy", scaled.busy_cpus)
        .with("_applied", scaled.applied as f64);
    if scaled.applied < events as i64 {
        sample = sample.remark(format!(
            "stopped at the budget: {} of {} events applied (rate of those)",
            number(scaled.applied as f64),
            number(events as f64)
        ));
    }
    sample
}

/// The raw baseline's row: `connections` sqlx connections, one statement per event.
pub(crate) fn raw(report: &mut Report, data: &Data<'_>, connections: u32, batch: usize, scaled: &Scaled) {
    let compare = if connections == 1 {
        Compare::Baseline("raw per event, 1 connection")
    } else {
        Compare::ThroughputOf(vec![raw_key(1, data.events)])
    };
    report.add(
        &raw_key(connections, data.events),
        Section::ScaleOut,
        format!(
            "raw sqlx, one `UPDATE` per event on {connections} connection(s) (each its share of the streams), \
             {} events over {} accounts, a transaction per {batch}",
            number(data.events as f64),
            number(data.accounts as f64)
        ),
        "events/s",
        compare,
        sample(scaled, data.events),
    );
}

/// A partitioned catch-up's row, compared with one worker, with one partition and with the raw
/// limit of the same work (4 raw connections for the per-event view, the raw read for the
/// batch one).
#[allow(clippy::too_many_arguments)]
pub(crate) fn partitioned(
    report: &mut Report,
    data: &Data<'_>,
    view: View,
    partitions: u32,
    workers: usize,
    batch: usize,
    raw_connections: u32,
    scaled: &Scaled,
) {
    let key = view_key(view, partitions, workers, data.events);
    let mut compare: Vec<String> = [
        view_key(view, partitions, 1, data.events),
        view_key(view, 1, 1, data.events),
    ]
    .into_iter()
    .filter(|other| *other != key)
    .collect();
    compare.push(match view {
        View::PerEvent => raw_key(raw_connections, data.events),
        View::Batch => "raw.read".to_owned(),
    });
    let what = match view {
        View::PerEvent => "one statement per event",
        View::Batch => "batch handlers",
    };
    report.add(
        &key,
        Section::ScaleOut,
        format!(
            "partitioned view ({what}): {partitions} partition(s), {workers} worker process(es), \
             {} events over {} accounts from empty, batches of {batch}",
            number(data.events as f64),
            number(data.accounts as f64)
        ),
        "events/s",
        Compare::ThroughputOf(compare),
        sample(scaled, data.events),
    );
}

/// The failover rows: from a kill, and from a pause, to every partition advancing.
pub(crate) fn failover(report: &mut Report, settings: &FailoverSettings<'_>, failovers: &Failovers) {
    let target = settings.lease + Duration::from_secs(1);
    let rows = [
        ("failover.kill", "kill -9", &failovers.kills),
        ("failover.pause", "SIGSTOP", &failovers.pauses),
    ];
    for (key, how, times) in rows {
        if times.is_empty() {
            continue;
        }
        let max = times.iter().max().copied().unwrap_or_default();
        let mut sample = Sample::timed(times.len(), times.iter().sum(), times.clone());
        sample.rate = None;
        let mut sample = sample
            .with("max (ms)", max.as_secs_f64() * 1e3)
            .with("times", times.len() as f64)
            .with("_events", failovers.events as f64);
        if failovers.missed > 0 {
            sample = sample.remark(format!("**{} takeover(s) missed the timeout**", failovers.missed));
        }
        report.add(
            key,
            Section::Failover,
            format!(
                "failover: one of {} workers ({} partitions, lease {} ms, poll {} ms) stopped by {how} \
                 while live deposits flow, until every partition advances again",
                settings.workers,
                settings.partitions,
                settings.lease.as_millis(),
                settings.poll.as_millis()
            ),
            "",
            Compare::Target(if max <= target {
                "max within lease + 1 s (target met)"
            } else {
                "max **beyond** lease + 1 s (target missed)"
            }),
            sample,
        );
    }
}
