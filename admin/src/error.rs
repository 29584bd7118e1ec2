//! What can go wrong while serving a page, and the status and page each becomes.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chronicle::{ReadStoreError, StoreError};

use crate::pages::render;

/// Why a page or an action failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// Input that is not what the page takes (a malformed id, a position that is no number).
    #[error("{0}")]
    BadRequest(String),
    /// Nothing of that name: an unknown stream, projection, correlation id or dead letter.
    #[error("{0}")]
    NotFound(String),
    /// An action without a valid admin token.
    #[error("{0}")]
    Unauthorized(String),
    /// An action on a server with no admin token configured: it is read-only.
    #[error("this admin server is read-only: no admin token is configured")]
    ReadOnly,
    /// The event store failed (unreachable, or its tables missing).
    #[error("the event store failed: {0}")]
    Store(#[from] StoreError),
    /// The read store failed.
    #[error("the read store failed: {0}")]
    ReadStore(#[from] ReadStoreError),
    /// The audit table could not be read or written (not migrated: see `Admin::migrate`).
    #[error("the audit table failed: {0}")]
    Audit(#[source] chronicle::sqlx::Error),
    /// The Prometheus recorder could not be installed.
    #[error("cannot install the Prometheus recorder: {0}")]
    Metrics(String),
    /// A template could not be rendered.
    #[error("the page could not be rendered: {0}")]
    Render(#[from] askama::Error),
}

impl AdminError {
    /// The HTTP status of the page that says so.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::ReadOnly => StatusCode::FORBIDDEN,
            // A store that cannot be reached is the database going away: worth trying again.
            Self::Store(error) if error.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            Self::ReadStore(error) if error.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) | Self::ReadStore(_) | Self::Audit(_) => StatusCode::BAD_GATEWAY,
            Self::Render(_) | Self::Metrics(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The error page.
#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    reason: &'static str,
    message: String,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "an admin page failed");
        }
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        match render(&page) {
            Ok(html) => (status, html).into_response(),
            // The error page itself is plain: say it in text rather than fail again.
            Err(_) => (status, Html(format!("{status}"))).into_response(),
        }
    }
}
