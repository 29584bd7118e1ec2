//! `/dead-letters[?projection=P][&tenant=T]`: the events projections could not apply, by their
//! current version, each with the event it holds back (with `tenant`, the letters of that tenant's
//! events only); for an admin, `POST /dead-letter` with `retry`
//! asks the projection's active runner to apply one again (it deletes the letter on success,
//! records the new error on failure), with `skip` deletes one (the projection stays past the event without applying
//! it), each recorded in the audit table.

use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chronicle::{CheckpointName, DeadLetter, EventSource, ReadStore};
use serde::Deserialize;

use super::event::EventRow;
use super::{parse_position, parse_tenant, render, time, Layout};
use crate::app::AppState;
use crate::audit::{audited, Action, AuditConnection};
use crate::error::AdminError;

/// Letters shown with their event at most: past it, only the letter.
const WITH_EVENTS: usize = 50;

#[derive(Deserialize)]
pub(crate) struct Params {
    #[serde(default)]
    projection: String,
    #[serde(default)]
    tenant: String,
}

pub(crate) struct LetterRow {
    projection: String,
    version: u32,
    position: u64,
    stream_id: String,
    /// The tenant of the letter's event (`""`: none, or the event is not shown).
    tenant: String,
    stream_version: u64,
    event_type: String,
    error: String,
    recorded_at: String,
    /// When a retry was asked for, while the runner has not answered it.
    retry_requested: Option<String>,
    event: Option<EventRow>,
}

#[derive(askama::Template)]
#[template(path = "dead_letters.html")]
struct DeadLetters {
    layout: Layout,
    projection: String,
    /// The tenant the letters are filtered to (`""`: every tenant's).
    tenant: String,
    letters: Vec<LetterRow>,
}

/// The dead letters of every checkpoint row (or of `only`), by its current version.
async fn letters<R: ReadStore>(read: &R, only: Option<&str>) -> Result<Vec<DeadLetter>, AdminError> {
    let mut letters = Vec::new();
    let mut found = false;
    for (name, row) in read.checkpoints().await? {
        if !CheckpointName::of(&name).is_checkpoint() || only.is_some_and(|only| only != name) {
            continue;
        }
        found = true;
        letters.extend(read.dead_letters(&name, row.version).await?);
    }
    match only {
        Some(projection) if !found => Err(AdminError::NotFound(format!(
            "no projection `{projection}` has a checkpoint here"
        ))),
        _ => Ok(letters),
    }
}

pub(crate) async fn list<S: EventSource, R: ReadStore>(
    State(shared): State<AppState<S, R>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Html<String>, AdminError> {
    let only = (!params.projection.is_empty()).then_some(params.projection.as_str());
    let tenant = parse_tenant(&params.tenant)?;
    let mut found = letters(&shared.read, only).await?;
    if !tenant.is_none() {
        found = chronicle::dead_letters_of_tenant(&shared.source, found, &tenant).await?;
    }
    let mut rows = Vec::new();
    for (index, letter) in found.into_iter().enumerate() {
        let event = if index < WITH_EVENTS {
            // The whole log's event at the position, whatever tenant it is.
            let mut found = shared
                .source
                .for_tenant(chronicle::Tenant::none())
                .read_all(letter.position.saturating_sub(1), 1)
                .await?;
            chronicle::mask_sealed(&mut found, shared.source.key_store().as_deref()).await;
            found.into_iter().find(|event| event.position == letter.position)
        } else {
            None
        };
        let event_tenant = event.as_ref().map(|e| e.tenant.clone()).unwrap_or_default();
        let event = event.map(|event| EventRow::new(&event, &shared.masked));
        rows.push(LetterRow {
            projection: letter.projection,
            version: letter.version,
            position: letter.position,
            stream_id: letter.stream_id,
            tenant: event_tenant,
            stream_version: letter.stream_version,
            event_type: letter.event_type,
            error: letter.error,
            recorded_at: time(letter.recorded_at),
            retry_requested: letter.retry_requested_at.map(time),
            event,
        });
    }
    render(&DeadLetters {
        layout: Layout::of(&shared, &headers),
        projection: params.projection,
        tenant: tenant.to_string(),
        letters: rows,
    })
}

/// The form of an action on one dead letter.
#[derive(Deserialize)]
pub(crate) struct LetterForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    projection: String,
    #[serde(default)]
    position: String,
}

/// The dead letter a form names, by the projection's current version, and who acts on it.
async fn named<S, R: ReadStore>(
    shared: &AppState<S, R>,
    headers: &HeaderMap,
    form: &LetterForm,
) -> Result<(String, DeadLetter), AdminError> {
    let who = shared.guard.require(headers)?;
    let position = parse_position(&form.position)?;
    let letter = letters(&shared.read, Some(&form.projection))
        .await?
        .into_iter()
        .find(|letter| letter.position == position)
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "`{}` has no dead letter at position {position}",
                form.projection
            ))
        })?;
    Ok((who, letter))
}

/// `POST /dead-letter`: does the form's `action` (`retry` or `skip`) to the letter it names,
/// for who the request comes from, and goes back to the list.
pub(crate) async fn act<S: EventSource, R>(
    State(shared): State<AppState<S, R>>,
    headers: HeaderMap,
    Form(form): Form<LetterForm>,
) -> Result<Response, AdminError>
where
    R: ReadStore,
    R::Connection: AuditConnection,
{
    let (who, letter) = named(&shared, &headers, &form).await?;
    let (projection, version, position) = (letter.projection, letter.version, letter.position);
    let action = match form.action.as_str() {
        "retry" => Action::Retry {
            projection,
            version,
            position,
        },
        "skip" => Action::Skip {
            projection,
            version,
            position,
        },
        other => {
            return Err(AdminError::BadRequest(format!(
                "`{other}` is no action on a dead letter: retry or skip"
            )))
        }
    };
    audited(&shared.read, &who, &action).await?;
    tracing::info!(actor = %who, ?action, "admin action");
    Ok(Redirect::to(&format!("{}/dead-letters", shared.base)).into_response())
}
