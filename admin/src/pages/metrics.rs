//! `/metrics`: the application's Prometheus recorder, rendered in the text exposition format.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::AdminError;

pub(crate) async fn page<S, R>(State(shared): State<AppState<S, R>>) -> Result<Response, AdminError> {
    let handle = shared.prometheus.as_ref().ok_or_else(|| {
        AdminError::NotFound("no Prometheus recorder is configured (see `Admin::prometheus`)".to_owned())
    })?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response())
}
