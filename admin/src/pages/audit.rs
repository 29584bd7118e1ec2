//! `/audit`: the newest actions taken through the admin page, newest first.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Html;
use chronicle::{EventSource, ReadStore};

use super::{render, time, Layout};
use crate::app::AppState;
use crate::audit::{entries, AuditConnection, AuditEntry};
use crate::error::AdminError;

/// Entries shown.
const SHOWN: u32 = 200;

#[derive(askama::Template)]
#[template(path = "audit.html")]
struct Audit {
    layout: Layout,
    entries: Vec<(String, AuditEntry)>,
    shown: u32,
}

pub(crate) async fn page<S: EventSource, R>(
    State(shared): State<AppState<S, R>>,
    headers: HeaderMap,
) -> Result<Html<String>, AdminError>
where
    R: ReadStore,
    R::Connection: AuditConnection,
{
    let entries = entries(&shared.read, SHOWN).await?;
    render(&Audit {
        layout: Layout::of(&shared, &headers),
        entries: entries.into_iter().map(|e| (time(e.at), e)).collect(),
        shown: SHOWN,
    })
}
