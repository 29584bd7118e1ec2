//! `/`: the log's head, the event rate, every projection with its lag and state, and the dead
//! letters; it reloads itself every few seconds (`?refresh=N`, 0 for never).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use chronicle::{EventSource, ReadStore};
use serde::Deserialize;

use super::{render, time, Layout};
use crate::app::AppState;
use crate::error::AdminError;
use crate::status::{projections, ProjectionRow};

/// How often the dashboard reloads itself by default, in seconds.
const REFRESH: u32 = 5;

#[derive(Deserialize)]
pub(crate) struct Params {
    /// Seconds, as text: a malformed value gets the admin's own 400 page.
    #[serde(default)]
    refresh: String,
}

/// A projection's row as the dashboard shows it.
pub(crate) struct Row {
    pub(crate) row: ProjectionRow,
    pub(crate) state: &'static str,
    pub(crate) state_class: String,
    pub(crate) percent: u8,
}

#[derive(askama::Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    layout: Layout,
    refresh: u32,
    head_position: Option<u64>,
    head_at: Option<String>,
    rate_10s: Option<String>,
    rate_60s: Option<String>,
    samples: usize,
    sample_every_ms: u128,
    sample_error: Option<String>,
    rows: Vec<Row>,
    dead_letters: usize,
}

pub(crate) async fn page<S: EventSource, R: ReadStore>(
    State(shared): State<AppState<S, R>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Html<String>, AdminError> {
    let refresh = match params.refresh.trim() {
        "" => REFRESH,
        given => given.parse().map_err(|_| {
            AdminError::BadRequest(format!("`{given}` is not a number of seconds to refresh after"))
        })?,
    };
    let head = shared.source.head().await?;
    let rows: Vec<Row> = projections(&shared.source, &shared.read)
        .await?
        .into_iter()
        .map(|row| {
            let state = row.state().label();
            Row {
                percent: row.progress_percent(&head),
                state,
                state_class: state.replace(' ', "-"),
                row,
            }
        })
        .collect();
    let (rate_10s, rate_60s, samples, sample_error) = shared.samples(|samples| {
        let rate = |window| {
            samples
                .rate(Duration::from_secs(window))
                .map(|r| format!("{r:.1}"))
        };
        (rate(10), rate(60), samples.len(), samples.last_error.clone())
    });
    render(&Dashboard {
        layout: Layout::of(&shared, &headers),
        refresh,
        head_position: head.position,
        head_at: head.recorded_at.map(time),
        rate_10s,
        rate_60s,
        samples,
        sample_every_ms: shared.sample_every.as_millis(),
        sample_error,
        dead_letters: rows.iter().map(|r| r.row.dead_letters).sum(),
        rows,
    })
}
