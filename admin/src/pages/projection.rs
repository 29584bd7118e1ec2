//! `/projection?name=P`: one projection's (or partition's) checkpoint, lag now and over time
//! (the sampler's, while this server runs), its rebuild progress and its last error.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use chronicle::{EventSource, ReadStore};
use serde::Deserialize;

use super::{render, time, Layout};
use crate::app::AppState;
use crate::error::AdminError;
use crate::status::{projection, ProjectionRow};

/// The chart's size in SVG units.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 120.0;

#[derive(Deserialize)]
pub(crate) struct Params {
    #[serde(default)]
    name: String,
}

#[derive(askama::Template)]
#[template(path = "projection.html")]
struct Projection {
    layout: Layout,
    row: ProjectionRow,
    state: &'static str,
    percent: u8,
    head_position: Option<u64>,
    /// The chart's polyline, `x,y` pairs; empty with fewer than two samples.
    points: String,
    max_lag: u64,
    samples: usize,
    first_sample: Option<String>,
    last_error: Option<(String, u64)>,
}

pub(crate) async fn page<S: EventSource, R: ReadStore>(
    State(shared): State<AppState<S, R>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Html<String>, AdminError> {
    if params.name.is_empty() {
        return Err(AdminError::BadRequest(
            "name a projection: projection?name=<name>".to_owned(),
        ));
    }
    let row = projection(&shared.source, &shared.read, &params.name).await?;
    let head = shared.source.head().await?;
    let letters = shared.read.dead_letters(&row.name, row.version).await?;
    // The stores keep no runner's error but the dead letters': the newest one is the last.
    let last_error = letters
        .iter()
        .max_by_key(|letter| letter.recorded_at)
        .map(|letter| {
            (
                format!("{} ({})", letter.error, time(letter.recorded_at)),
                letter.position,
            )
        });
    let lags = shared.samples(|samples| samples.lag_of(&row.name));
    let max_lag = lags.iter().map(|(_, lag)| *lag).max().unwrap_or(0);
    render(&Projection {
        layout: Layout::of(&shared, &headers),
        state: row.state().label(),
        percent: row.progress_percent(&head),
        head_position: head.position,
        points: polyline(&lags.iter().map(|(_, lag)| *lag).collect::<Vec<_>>(), max_lag),
        max_lag,
        samples: lags.len(),
        first_sample: lags.first().map(|(at, _)| time(*at)),
        last_error,
        row,
    })
}

/// The points of a line through `values`, scaled to the chart, the highest value at the top.
fn polyline(values: &[u64], max: u64) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let step = WIDTH / (values.len() - 1) as f64;
    let scale = if max == 0 {
        0.0
    } else {
        (HEIGHT - 4.0) / max as f64
    };
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                HEIGHT - 2.0 - *value as f64 * scale
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::polyline;

    #[test]
    fn the_line_spans_the_chart_with_the_highest_value_on_top() {
        assert_eq!(polyline(&[5], 5), "");
        assert_eq!(polyline(&[0, 4, 2], 4), "0.0,118.0 300.0,2.0 600.0,60.0");
        assert_eq!(polyline(&[0, 0], 0), "0.0,118.0 600.0,118.0");
    }
}
