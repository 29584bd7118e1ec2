//! The harness's results: one row per measurement, each with a sample per run, rendered as one
//! markdown table of medians with a ratio against the raw baseline of the same invocation.

use std::fmt::Write as _;
use std::time::Duration;

/// Where a row goes in the table; rows are listed section by section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Plain sqlx on a table identical to `chronicle_events`.
    Raw,
    /// The bank workload through `Chronicle::execute`.
    Commands,
    /// Many clients on a few streams.
    Contention,
    /// `Chronicle::load` of one long stream.
    Load,
    /// A projection runner from empty to caught up.
    CatchUp,
    /// Commands and a catch-up bare, then with a metrics recorder and a span-recording subscriber.
    Overhead,
    /// The portable view (`&mut Sql` on a `SqlReadStore`) next to the direct Postgres one.
    Portability,
    /// A projection runner into Redis, beside a raw Redis writer.
    Redis,
    /// The portable view on MariaDB, beside a raw MariaDB writer.
    MariaDb,
    /// A partitioned view caught up by several worker processes, beside raw connections.
    ScaleOut,
    /// A partitioned view's worker killed or paused, until its partitions advance again.
    Failover,
    /// A command's receipt to a consistent query answer.
    ReadYourWrites,
    /// A relay publishing the log to a broker, beside a raw publisher on it.
    Relay,
    /// A command's receipt to a consumer's read model in another store, through a broker.
    EndToEnd,
}

/// What a row is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The row is a baseline, called by this tag in other rows' ratios.
    Baseline(&'static str),
    /// Rate as a share of the baseline row's rate (key of that row).
    Throughput(&'static str),
    /// p50 latency as a multiple of the baseline row's p50 (key of that row).
    Latency(&'static str),
    /// Rate as a share of each of these rows' rates, in order (keys of those rows, which may be
    /// made at run time: a baseline per event count).
    ThroughputOf(Vec<String>),
    /// Nothing to compare with in the same run: the text says what the figure is held against
    /// (a target).
    Target(&'static str),
}

/// One run of one measurement.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Operations (events, commands, loads) per second.
    pub rate: Option<f64>,
    /// Median latency of one operation, milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: Option<f64>,
    /// Named figures: shown in the notes column (median over runs), except names starting with
    /// `_`, which are checks for tests.
    pub extras: Vec<(&'static str, f64)>,
    /// Remarks shown in the notes column (each distinct one once).
    pub remarks: Vec<String>,
}

impl Sample {
    /// A sample of `operations` done in `elapsed`, with the latency of each (any order).
    pub fn timed(operations: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        let has_latencies = !latencies.is_empty();
        Self {
            rate: Some(operations as f64 / elapsed.as_secs_f64().max(1e-9)),
            p50_ms: has_latencies.then(|| ms(percentile(&latencies, 0.50))),
            p99_ms: has_latencies.then(|| ms(percentile(&latencies, 0.99))),
            extras: Vec::new(),
            remarks: Vec::new(),
        }
    }

    /// Adds a remark for the notes column.
    pub fn remark(mut self, remark: String) -> Self {
        self.remarks.push(remark);
        self
    }

    /// Adds a named figure.
    pub fn with(mut self, name: &'static str, value: f64) -> Self {
        self.extras.push((name, value));
        self
    }

    /// A named figure, if recorded.
    pub fn extra(&self, name: &str) -> Option<f64> {
        self.extras.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Stable identifier (`raw.single`, `cmd.8.deposit`, ...).
    pub key: String,
    /// Where the row is listed.
    pub section: Section,
    /// The text of the scenario column.
    pub label: String,
    /// Unit of the rate (`events/s`, `cmds/s`, ...).
    pub unit: &'static str,
    /// What the row is compared with.
    pub compare: Compare,
    /// One per run.
    pub samples: Vec<Sample>,
    /// Set when the measurement could not be made; the reason is printed instead of figures.
    pub not_available: Option<String>,
}

impl Row {
    /// The median rate over runs.
    pub fn rate(&self) -> Option<f64> {
        median(self.samples.iter().filter_map(|s| s.rate))
    }

    /// The median p50 latency over runs.
    pub fn p50_ms(&self) -> Option<f64> {
        median(self.samples.iter().filter_map(|s| s.p50_ms))
    }

    /// The median p99 latency over runs.
    pub fn p99_ms(&self) -> Option<f64> {
        median(self.samples.iter().filter_map(|s| s.p99_ms))
    }

    /// The median of a named figure over runs.
    pub fn extra(&self, name: &str) -> Option<f64> {
        median(self.samples.iter().filter_map(|s| s.extra(name)))
    }
}

/// The machine and server the figures were measured on.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// `/proc/loadavg` at the start (1, 5, 15 minutes).
    pub load_average: String,
    /// `SELECT version()`.
    pub postgres: String,
    /// `SHOW synchronous_commit`.
    pub synchronous_commit: String,
    /// `SHOW fsync`.
    pub fsync: String,
    /// `SHOW shared_buffers`.
    pub shared_buffers: String,
    /// The database used.
    pub database: String,
}

/// Everything the harness measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Where.
    pub machine: Machine,
    /// How many runs each figure is the median of.
    pub runs: usize,
    /// In the order they were first recorded; rendered section by section.
    pub rows: Vec<Row>,
}

impl Report {
    /// Records one run of the measurement `key`.
    pub fn add(
        &mut self,
        key: &str,
        section: Section,
        label: String,
        unit: &'static str,
        compare: Compare,
        sample: Sample,
    ) {
        match self.rows.iter_mut().find(|row| row.key == key) {
            Some(row) => row.samples.push(sample),
            None => self.rows.push(Row {
                key: key.to_owned(),
                section,
                label,
                unit,
                compare,
                samples: vec![sample],
                not_available: None,
            }),
        }
    }

    /// Records a measurement that cannot be made, with the reason.
    pub fn not_available(&mut self, key: &str, section: Section, label: String, reason: String) {
        if self.rows.iter().any(|row| row.key == key) {
            return;
        }
        self.rows.push(Row {
            key: key.to_owned(),
            section,
            label,
            unit: "",
            compare: Compare::Latency(""),
            samples: Vec::new(),
            not_available: Some(reason),
        });
    }

    /// The row `key`, if measured.
    pub fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.key == key)
    }

    /// The ratio text of `row` against its baseline.
    fn ratio(&self, row: &Row) -> String {
        let tag_of = |key: &str| match self.row(key).map(|r| &r.compare) {
            Some(Compare::Baseline(tag)) => (*tag).to_owned(),
            Some(_) => format!("`{key}`"),
            None => key.to_owned(),
        };
        let share = |key: &str| match (row.rate(), self.row(key).and_then(Row::rate)) {
            (Some(rate), Some(base)) if base > 0.0 => {
                format!("{:.0} % of {}", 100.0 * rate / base, tag_of(key))
            }
            _ => format!("n/a ({key} not run)"),
        };
        match &row.compare {
            Compare::Baseline(tag) => format!("baseline {tag}"),
            Compare::Throughput(key) => share(key),
            Compare::Target(text) => (*text).to_owned(),
            Compare::ThroughputOf(keys) => keys.iter().map(|key| share(key)).collect::<Vec<_>>().join("; "),
            Compare::Latency(key) => match (row.p50_ms(), self.row(key).and_then(Row::p50_ms)) {
                (Some(p50), Some(base)) if base > 0.0 => {
                    let ratio = p50 / base;
                    let digits = if ratio >= 10.0 {
                        0
                    } else if ratio >= 1.0 {
                        1
                    } else {
                        3
                    };
                    format!("p50 {ratio:.digits$}× {}", tag_of(key))
                }
                _ => format!("n/a ({key} not run)"),
            },
        }
    }

    /// The machine description and the table, in markdown.
    pub fn to_markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "## Chronicle benchmark harness");
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "- machine: {} CPUs (nproc), {:.1} GiB memory, load average at start {}",
            m.cpus, m.memory_gib, m.load_average
        );
        let _ = writeln!(out, "- server: {}", m.postgres);
        let _ = writeln!(
            out,
            "- synchronous_commit={}, fsync={}, shared_buffers={}; database `{}`, client on the same machine over TCP",
            m.synchronous_commit, m.fsync, m.shared_buffers, m.database
        );
        let _ = writeln!(
            out,
            "- every figure is the median of {} run(s); latency is one command / transaction / query as the client sees it; \
             ratios compare medians of the same invocation",
            self.runs
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| scenario | rate | p50 ms | p99 ms | vs raw | notes | rate per run |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---|---|---|");
        let mut rows: Vec<&Row> = self.rows.iter().collect();
        rows.sort_by_key(|row| row.section);
        for row in rows {
            if let Some(reason) = &row.not_available {
                let _ = writeln!(out, "| {} | n/a | n/a | n/a | n/a | {reason} | |", row.label);
                continue;
            }
            let rate = row
                .rate()
                .map_or_else(|| "–".to_owned(), |r| format!("{} {}", number(r), row.unit));
            let mut notes: Vec<String> = Vec::new();
            for remark in row.samples.iter().flat_map(|s| &s.remarks) {
                if !notes.contains(remark) {
                    notes.push(remark.clone());
                }
            }
            let figures: Vec<String> = row
                .samples
                .first()
                .map(|s| s.extras.iter().map(|(name, _)| *name).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|name| !name.starts_with('_'))
                .filter_map(|name| row.extra(name).map(|v| format!("{name} {}", number(v))))
                .collect();
            notes.extend(figures);
            let per_run: Vec<String> = row.samples.iter().filter_map(|s| s.rate).map(number).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.label,
                rate,
                row.p50_ms().map_or_else(|| "–".to_owned(), |v| format!("{v:.3}")),
                row.p99_ms().map_or_else(|| "–".to_owned(), |v| format!("{v:.3}")),
                self.ratio(row),
                notes.join("; "),
                per_run.join(" / "),
            );
        }
        out
    }
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The nearest-rank percentile `q` (0..=1) of sorted values.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A figure for the table: whole numbers with thousands separators, others with 2 decimals.
pub fn number(v: f64) -> String {
    if v.abs() >= 100.0 || (v.fract() == 0.0 && v.abs() < 1e15) {
        let rounded = v.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let head = digits.len() % 3;
        let mut grouped = digits[..head].to_owned();
        for chunk in digits.as_bytes()[head..].chunks(3) {
            if !grouped.is_empty() {
                grouped.push(',');
            }
            grouped.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        }
        if rounded < 0 {
            grouped.insert(0, '-');
        }
        grouped
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(0.4251), "0.43");
        assert_eq!(number(-1500.0), "-1,500");
    }

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0].into_iter()), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&d, 0.99), Duration::from_millis(99));
    }
}
