//! `/trace?correlation=C`: every event of one business transaction, in log order, with the
//! command that recorded each and what caused it.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use chronicle::{EventSource, ReadStore};
use serde::Deserialize;
use uuid::Uuid;

use super::event::EventRow;
use super::{render, Layout};
use crate::app::AppState;
use crate::error::AdminError;

#[derive(Deserialize)]
pub(crate) struct Params {
    #[serde(default)]
    correlation: String,
}

#[derive(askama::Template)]
#[template(path = "trace.html")]
struct Trace {
    layout: Layout,
    correlation: String,
    commands: usize,
    events: Vec<EventRow>,
}

pub(crate) async fn page<S: EventSource, R: ReadStore>(
    State(shared): State<AppState<S, R>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Html<String>, AdminError> {
    let given = params.correlation.trim();
    let correlation = Uuid::parse_str(given)
        .map_err(|_| AdminError::BadRequest(format!("`{given}` is not a correlation id: give a UUID")))?;
    let mut events = shared.source.read_by_correlation(correlation).await?;
    // `#[pii]` fields shown as `[encrypted]`, or `[forgotten]`: the page decrypts nothing.
    chronicle::mask_sealed(&mut events, shared.source.key_store().as_deref()).await;
    if events.is_empty() {
        return Err(AdminError::NotFound(format!(
            "no event carries the correlation id {correlation}"
        )));
    }
    let mut commands: Vec<Uuid> = events.iter().map(|e| e.metadata.command_id).collect();
    commands.sort_unstable();
    commands.dedup();
    render(&Trace {
        layout: Layout::of(&shared, &headers),
        correlation: correlation.to_string(),
        commands: commands.len(),
        events: events.iter().map(|e| EventRow::new(e, &shared.masked)).collect(),
    })
}
