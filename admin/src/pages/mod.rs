//! The pages: one module each, its template in `templates/` (askama checks them when the crate
//! compiles, and escapes every value for HTML). Links, forms and redirects start with the
//! configured base path (`Admin::at`).

pub(crate) mod audit;
pub(crate) mod dashboard;
pub(crate) mod dead_letters;
pub(crate) mod event;
pub(crate) mod login;
pub(crate) mod metrics;
pub(crate) mod projection;
pub(crate) mod streams;
pub(crate) mod trace;

use axum::http::HeaderMap;
use axum::response::Html;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::app::Shared;
use crate::error::AdminError;

/// `template` rendered, as a page.
pub(crate) fn render(template: &impl askama::Template) -> Result<Html<String>, AdminError> {
    Ok(Html(template.render()?))
}

/// What the layout of every page shows: who is logged in, and whether actions are possible.
pub(crate) struct Layout {
    /// The name of the admin token of this request, if any.
    pub(crate) who: Option<String>,
    /// Whether any token is configured.
    pub(crate) writable: bool,
    /// The path the pages are under (empty at the root).
    pub(crate) base: String,
}

impl Layout {
    pub(crate) fn of<S, R>(shared: &Shared<S, R>, headers: &HeaderMap) -> Self {
        Self {
            who: shared.guard.who(headers),
            writable: shared.guard.writable(),
            base: shared.base.clone(),
        }
    }
}

/// A time as the pages show it: RFC 3339 in UTC, to the millisecond.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The page of a path no route serves.
pub(crate) async fn not_found() -> AdminError {
    AdminError::NotFound("no such page".to_owned())
}

/// The tenant a page is asked for (`?tenant=`): none when the field is empty (the whole log, or
/// the streams of no tenant), else a valid tenant id, or a clear refusal.
pub(crate) fn parse_tenant(given: &str) -> Result<chronicle::Tenant, AdminError> {
    match given.trim() {
        "" => Ok(chronicle::Tenant::none()),
        id => chronicle::Tenant::new(id).map_err(|error| AdminError::BadRequest(error.to_string())),
    }
}

/// A position from a query or form field, or a clear refusal.
pub(crate) fn parse_position(given: &str) -> Result<u64, AdminError> {
    given.trim().parse().map_err(|_| {
        AdminError::BadRequest(format!(
            "`{given}` is not a position or version: give a whole number"
        ))
    })
}
