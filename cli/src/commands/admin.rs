//! `chronicle admin --listen ADDR [--token T] [--mask FIELD]...`: the admin page (the
//! `chronicle-admin` router) on the stores the command line opens, until interrupted, with
//! Prometheus's `/metrics` of the page's own gauges (head, lags, dead letters).

use chronicle::{EventSource, SqlReadStore};
use chronicle_admin::Admin;

use crate::connect::{Log, Stores};
use crate::error::CliError;
use crate::output;

/// Who may act, and what is masked.
pub(crate) struct Access<'a> {
    pub(crate) token: Option<&'a str>,
    pub(crate) token_name: &'a str,
    pub(crate) mask: &'a [String],
}

pub(crate) async fn run(
    stores: &Stores,
    listen: &str,
    access: &Access<'_>,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| CliError::Invalid(format!("cannot listen on `{listen}`: {error}")))?;
    let address = listener.local_addr()?;
    let prometheus = chronicle_admin::prometheus_recorder()?;
    let mode = match access.token {
        Some(_) => format!(
            "actions need the admin token, recorded as `{}`",
            access.token_name
        ),
        None => "read-only: no admin token".to_owned(),
    };
    output::text(
        out,
        format!("admin page of {} on http://{address}/ ({mode})", stores.place),
    )?;
    out.flush()?;
    let read = stores.read.clone();
    match &stores.log {
        Log::Postgres(store) => serve(store.clone(), read, listener, access, prometheus).await,
        Log::Sqlite(store) => serve(store.clone(), read, listener, access, prometheus).await,
    }
}

async fn serve<S: EventSource>(
    source: S,
    read: SqlReadStore,
    listener: tokio::net::TcpListener,
    access: &Access<'_>,
    prometheus: chronicle_admin::PrometheusHandle,
) -> Result<(), CliError> {
    let mut admin = Admin::new(source, read)
        .mask(access.mask.iter().cloned())
        .prometheus(prometheus);
    if let Some(token) = access.token {
        admin = admin.token(access.token_name, token);
    }
    admin.migrate().await?;
    chronicle_admin::serve(listener, admin.router())
        .await
        .map_err(|error| CliError::Invalid(format!("the admin server failed: {error}")))
}
