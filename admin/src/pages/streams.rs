//! `/streams`: the log's streams, a page at a time (`?aggregate=A&after=S`); `/stream?id=S`: one
//! stream's events with their metadata, a page at a time (`&after=V`), payloads decoded and
//! masked. Both take `&tenant=T` for that tenant's streams (without it: the streams of no tenant).

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use chronicle::{check_stream_id, is_valid_aggregate_name, EventSource, ReadStore};
use serde::Deserialize;

use super::event::EventRow;
use super::{parse_position, parse_tenant, render, time, Layout};
use crate::app::AppState;
use crate::error::AdminError;

/// Streams per page of the listing.
const STREAMS_PER_PAGE: usize = 50;
/// Events per page of a stream.
const EVENTS_PER_PAGE: usize = 100;

#[derive(Deserialize)]
pub(crate) struct ListParams {
    #[serde(default)]
    aggregate: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    tenant: String,
}

pub(crate) struct StreamRow {
    id: String,
    version: u64,
    last_recorded_at: String,
}

#[derive(askama::Template)]
#[template(path = "streams.html")]
struct Streams {
    layout: Layout,
    aggregate: String,
    after: String,
    /// The tenant whose streams these are (`""`: none).
    tenant: String,
    streams: Vec<StreamRow>,
    /// The `after` of the next page, when this one is full.
    next: Option<String>,
}

pub(crate) async fn list<S: EventSource, R: ReadStore>(
    State(shared): State<AppState<S, R>>,
    Query(params): Query<ListParams>,
    headers: HeaderMap,
) -> Result<Html<String>, AdminError> {
    let aggregate = params.aggregate.trim().to_owned();
    let tenant = parse_tenant(&params.tenant)?;
    if !aggregate.is_empty() && !is_valid_aggregate_name(&aggregate) {
        return Err(AdminError::BadRequest(format!(
            "`{aggregate}` is not an aggregate name (it may not contain `-`)"
        )));
    }
    let prefix = if aggregate.is_empty() {
        String::new()
    } else {
        format!("{aggregate}-")
    };
    let found = shared
        .source
        .for_tenant(tenant.clone())
        .list_streams(&prefix, &params.after, STREAMS_PER_PAGE)
        .await?;
    let next = (found.len() == STREAMS_PER_PAGE)
        .then(|| found.last().map(|s| s.stream_id.clone()))
        .flatten();
    render(&Streams {
        layout: Layout::of(&shared, &headers),
        aggregate,
        after: params.after,
        tenant: tenant.to_string(),
        streams: found
            .into_iter()
            .map(|s| StreamRow {
                id: s.stream_id,
                version: s.version,
                last_recorded_at: time(s.last_recorded_at),
            })
            .collect(),
        next,
    })
}

#[derive(Deserialize)]
pub(crate) struct ShowParams {
    #[serde(default)]
    id: String,
    /// A stream version, as text: a malformed one gets the admin's own 400 page.
    #[serde(default)]
    after: String,
    #[serde(default)]
    tenant: String,
}

#[derive(askama::Template)]
#[template(path = "stream.html")]
struct Stream {
    layout: Layout,
    id: String,
    /// The stream's tenant (`""`: none).
    tenant: String,
    events: Vec<EventRow>,
    /// The `after` of the next page, when there are more events.
    next: Option<u64>,
    masked: Vec<String>,
}

pub(crate) async fn show<S: EventSource, R: ReadStore>(
    State(shared): State<AppState<S, R>>,
    Query(params): Query<ShowParams>,
    headers: HeaderMap,
) -> Result<Html<String>, AdminError> {
    check_stream_id(&params.id).map_err(|error| AdminError::BadRequest(error.to_string()))?;
    let tenant = parse_tenant(&params.tenant)?;
    let after = match params.after.as_str() {
        "" => 0,
        given => parse_position(given)?,
    };
    let mut events = shared
        .source
        .for_tenant(tenant.clone())
        .read_stream(&params.id, after)
        .await?;
    // `#[pii]` fields shown as `[encrypted]`, or `[forgotten]`: the page decrypts nothing.
    chronicle::mask_sealed(&mut events, shared.source.key_store().as_deref()).await;
    if events.is_empty() {
        return Err(AdminError::NotFound(if after == 0 {
            format!("no stream `{}` in the log{}", params.id, of_tenant(&tenant))
        } else {
            format!("stream `{}` has no events after version {after}", params.id)
        }));
    }
    let next = (events.len() > EVENTS_PER_PAGE).then(|| events[EVENTS_PER_PAGE - 1].stream_version);
    events.truncate(EVENTS_PER_PAGE);
    render(&Stream {
        layout: Layout::of(&shared, &headers),
        events: events.iter().map(|e| EventRow::new(e, &shared.masked)).collect(),
        id: params.id,
        tenant: tenant.to_string(),
        next,
        masked: shared.masked.iter().cloned().collect(),
    })
}

/// `" of tenant T"` for a message, or nothing for no tenant.
fn of_tenant(tenant: &chronicle::Tenant) -> String {
    if tenant.is_none() {
        String::new()
    } else {
        format!(" of tenant `{tenant}`")
    }
}
