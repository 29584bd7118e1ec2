//! `/login`: trading an admin token for a session cookie; `POST /logout` ends the session.

use axum::extract::{Form, State};
use axum::http::header::SET_COOKIE;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chronicle::{EventSource, ReadStore};
use serde::Deserialize;

use super::{render, Layout};
use crate::app::AppState;
use crate::auth::SESSION_COOKIE;
use crate::error::AdminError;

#[derive(askama::Template)]
#[template(path = "login.html")]
struct Login {
    layout: Layout,
    refused: bool,
}

pub(crate) async fn form<S: EventSource, R: ReadStore>(
    State(shared): State<AppState<S, R>>,
    headers: HeaderMap,
) -> Result<Html<String>, AdminError> {
    if !shared.guard.writable() {
        return Err(AdminError::ReadOnly);
    }
    render(&Login {
        layout: Layout::of(&shared, &headers),
        refused: false,
    })
}

#[derive(Deserialize)]
pub(crate) struct Credentials {
    #[serde(default)]
    token: String,
}

pub(crate) async fn login<S: EventSource, R: ReadStore>(
    State(shared): State<AppState<S, R>>,
    headers: HeaderMap,
    Form(credentials): Form<Credentials>,
) -> Result<Response, AdminError> {
    if !shared.guard.writable() {
        return Err(AdminError::ReadOnly);
    }
    match shared.guard.login(&credentials.token) {
        Some((session, name)) => {
            tracing::info!(actor = %name, "admin logged in");
            // HttpOnly: no script reads it; SameSite=Strict: no other site's form posts with it.
            let base = &shared.base;
            let cookie = format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path={base}/");
            Ok(([(SET_COOKIE, cookie)], Redirect::to(&format!("{base}/"))).into_response())
        }
        None => {
            tracing::info!("an admin login was refused");
            let page = render(&Login {
                layout: Layout::of(&shared, &headers),
                refused: true,
            })?;
            Ok((axum::http::StatusCode::UNAUTHORIZED, page).into_response())
        }
    }
}

pub(crate) async fn logout<S: EventSource, R: ReadStore>(
    State(shared): State<AppState<S, R>>,
    headers: HeaderMap,
) -> Response {
    shared.guard.logout(&headers);
    let base = &shared.base;
    let expired = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path={base}/; Max-Age=0");
    ([(SET_COOKIE, expired)], Redirect::to(&format!("{base}/"))).into_response()
}
