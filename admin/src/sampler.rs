//! The event rate and each projection's lag over time: sampled in memory while the server runs
//! (nothing is stored), every [`Admin::sample_every`](crate::Admin::sample_every), in a bounded
//! ring; and the same numbers as Prometheus gauges for `/metrics`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chronicle::{EventSource, ReadStore};
use chrono::{DateTime, Utc};

use crate::app::Shared;
use crate::status::projections;

/// Samples kept: at one a second, the last five minutes.
pub(crate) const CAPACITY: usize = 300;

/// One look at the stores.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) at: DateTime<Utc>,
    /// The log's highest position (0 before the first event).
    pub(crate) head: u64,
    /// Each checkpoint row's events behind, by name.
    pub(crate) lags: Vec<(String, u64)>,
}

/// The ring of samples, and why the last one failed, if it did.
#[derive(Debug, Default)]
pub(crate) struct Samples {
    ring: VecDeque<Sample>,
    pub(crate) last_error: Option<String>,
}

impl Samples {
    fn push(&mut self, sample: Sample) {
        if self.ring.len() >= CAPACITY {
            self.ring.pop_front();
        }
        self.ring.push_back(sample);
        self.last_error = None;
    }

    /// Events per second over the last `window` of samples (positions may have gaps, so it is
    /// the rate at which the head moves); `None` until two samples are there.
    pub(crate) fn rate(&self, window: Duration) -> Option<f64> {
        let last = self.ring.back()?;
        let since = last.at - chrono::Duration::from_std(window).ok()?;
        let first = self.ring.iter().find(|sample| sample.at >= since)?;
        let seconds = (last.at - first.at).num_milliseconds() as f64 / 1000.0;
        (seconds > 0.0).then(|| last.head.saturating_sub(first.head) as f64 / seconds)
    }

    /// The events behind of checkpoint row `name` in each sample that has it, oldest first.
    pub(crate) fn lag_of(&self, name: &str) -> Vec<(DateTime<Utc>, u64)> {
        self.ring
            .iter()
            .filter_map(|sample| {
                let lag = sample.lags.iter().find(|(n, _)| n == name)?.1;
                Some((sample.at, lag))
            })
            .collect()
    }

    /// How many samples there are.
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }
}

/// Samples every `every` until the server's state is dropped.
pub(crate) fn spawn<S: EventSource, R: ReadStore>(shared: &Arc<Shared<S, R>>, every: Duration) {
    let weak: Weak<Shared<S, R>> = Arc::downgrade(shared);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(shared) = weak.upgrade() else { return };
            sample(&shared).await;
        }
    });
}

async fn sample<S: EventSource, R: ReadStore>(shared: &Shared<S, R>) {
    let looked = async {
        let head = shared.source.head().await?;
        let rows = projections(&shared.source, &shared.read).await?;
        Ok::<_, crate::AdminError>((head, rows))
    }
    .await;
    let samples: &Mutex<Samples> = &shared.samples;
    let mut samples = samples.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match looked {
        Ok((head, rows)) => {
            let head = head.position.unwrap_or(0);
            metrics::gauge!("chronicle_admin_head_position").set(head as f64);
            for row in &rows {
                metrics::gauge!("chronicle_admin_projection_events_behind", "projection" => row.name.clone())
                    .set(row.events_behind as f64);
                metrics::gauge!("chronicle_admin_projection_dead_letters", "projection" => row.name.clone())
                    .set(row.dead_letters as f64);
            }
            samples.push(Sample {
                at: Utc::now(),
                head,
                lags: rows
                    .into_iter()
                    .map(|row| (row.name, row.events_behind))
                    .collect(),
            });
        }
        Err(error) => {
            tracing::debug!(%error, "the admin server could not sample the stores");
            samples.last_error = Some(error.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64, head: u64) -> Sample {
        Sample {
            at: DateTime::<Utc>::from_timestamp(seconds, 0).expect("a time"),
            head,
            lags: vec![("p".to_owned(), head / 2)],
        }
    }

    #[test]
    fn the_rate_is_the_heads_moves_over_the_window_and_the_ring_is_bounded() {
        let mut samples = Samples::default();
        assert_eq!(samples.rate(Duration::from_secs(10)), None);
        for second in 0..(CAPACITY as i64 + 20) {
            samples.push(at(second, second as u64 * 3));
        }
        assert_eq!(samples.len(), CAPACITY);
        assert_eq!(samples.rate(Duration::from_secs(10)), Some(3.0));
        let lags = samples.lag_of("p");
        assert_eq!(lags.len(), CAPACITY);
        assert_eq!(samples.lag_of("q"), []);
    }
}
