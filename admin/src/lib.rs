//! The admin page of a Chronicle application: an [`axum`] router over the application's own
//! event store and read store, to mount in its server or to serve alone (`chronicle admin
//! --listen ADDR` serves it on the stores the command line opens).
//!
//! Pages: the dashboard (the log's head, the event rate, every projection's lag and state, the
//! dead letters), a streams browser (decoded payloads and metadata, sensitive fields masked), a
//! correlation trace, a projection's detail (checkpoint, lag over time, rebuild progress, last
//! error), the dead letters with their events (retrying or skipping one is an action), the audit table, and
//! `/metrics` for Prometheus. Read-only unless an admin token is configured; every action is
//! recorded in the audit table (who, when, what, on what, how it ended) in the read store's
//! database.
//!
//! The HTML is rendered on the server from askama templates (`templates/`), which are checked
//! when the crate compiles and escape every value: no front-end build, no script.
//!
//! - `app.rs`: [`Admin`], the configuration and the router; `pages/` one module per page;
//! - `status.rs`: where each projection stands, from the stores ([`ProjectionRow`]);
//! - `sampler.rs`: the event rate and lag history, sampled in memory while the server runs;
//! - `audit/`: the audit table ([`AuditConnection`]) and the actions it records;
//! - `auth.rs`: tokens, sessions, and the check every action makes; `mask.rs`: masking;
//! - `error.rs`: [`AdminError`], and the page each error becomes.

#![deny(missing_docs)]

mod app;
mod audit;
mod auth;
mod error;
mod mask;
mod pages;
mod sampler;
mod status;

pub use crate::app::Admin;
pub use crate::audit::{AuditConnection, AuditEntry};
pub use crate::error::AdminError;
pub use crate::status::{projection, projections, ProjectionRow, State};
pub use axum::Router;
pub use metrics_exporter_prometheus::PrometheusHandle;

/// Installs a Prometheus recorder as the process's `metrics` recorder, and returns its handle
/// for [`Admin::prometheus`]: for a program that has none (the command line). An application
/// with a recorder of its own passes that one's handle instead. Fails when the process already
/// has a recorder.
pub fn prometheus_recorder() -> Result<PrometheusHandle, AdminError> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|error| AdminError::Metrics(error.to_string()))
}

/// Serves `router` on `listener` until the process ends (or the future is dropped): what
/// `chronicle admin --listen` runs, and what an application that serves the page alone can run.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}
