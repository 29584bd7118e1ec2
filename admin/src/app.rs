//! [`Admin`]: what the admin page is configured with, and the router it becomes.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use chronicle::{EventSource, ReadStore};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::audit::{self, AuditConnection};
use crate::auth::{Guard, Token};
use crate::error::AdminError;
use crate::pages;
use crate::sampler::{self, Samples};

/// The admin page of an application, on its event store `S` and read store `R`: configure it,
/// [`migrate`](Self::migrate) its audit table, and mount [`router`](Self::router) in the
/// application's server (or serve it alone, as `chronicle admin --listen` does).
///
/// Read-only unless a [`token`](Self::token) is configured; every action is recorded in the
/// audit table in the read store's database.
pub struct Admin<S, R> {
    source: S,
    read: R,
    tokens: Vec<Token>,
    masked: BTreeSet<String>,
    prometheus: Option<PrometheusHandle>,
    sample_every: Duration,
}

impl<S, R> std::fmt::Debug for Admin<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("tokens", &self.tokens)
            .field("masked", &self.masked)
            .field("prometheus", &self.prometheus.is_some())
            .field("sample_every", &self.sample_every)
            .finish_non_exhaustive()
    }
}

/// What every page's handler shares.
pub(crate) struct Shared<S, R> {
    pub(crate) source: S,
    pub(crate) read: R,
    pub(crate) guard: Guard,
    pub(crate) masked: BTreeSet<String>,
    pub(crate) prometheus: Option<PrometheusHandle>,
    pub(crate) samples: Mutex<Samples>,
    pub(crate) sample_every: Duration,
}

impl<S, R> Shared<S, R> {
    /// A copy of the samples' numbers the pages need, taken under the lock at once.
    pub(crate) fn samples<T>(&self, read: impl FnOnce(&Samples) -> T) -> T {
        let samples = self
            .samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        read(&samples)
    }
}

/// The state handed to the handlers.
pub(crate) type AppState<S, R> = Arc<Shared<S, R>>;

impl<S, R> Admin<S, R>
where
    S: EventSource,
    R: ReadStore,
    R::Connection: AuditConnection,
{
    /// The admin page of the log in `source` and the read models (checkpoints, dead letters)
    /// in `read`: read-only, nothing masked, no `/metrics`, sampling every second.
    pub fn new(source: S, read: R) -> Self {
        Self {
            source,
            read,
            tokens: Vec::new(),
            masked: BTreeSet::new(),
            prometheus: None,
            sample_every: Duration::from_secs(1),
        }
    }

    /// Allows actions (dead-letter skips and retries) to whoever logs in with `secret`; `name`
    /// is who they are in the audit table. Several tokens may be configured.
    pub fn token(mut self, name: &str, secret: &str) -> Self {
        self.tokens.push(Token::new(name, secret));
        self
    }

    /// Shows the values of these JSON fields (at any depth of payloads and metadata) as `***`.
    pub fn mask<I: IntoIterator<Item = T>, T: Into<String>>(mut self, fields: I) -> Self {
        self.masked.extend(fields.into_iter().map(Into::into));
        self
    }

    /// Serves `handle`'s rendering at `/metrics` (the application installs the recorder).
    pub fn prometheus(mut self, handle: PrometheusHandle) -> Self {
        self.prometheus = Some(handle);
        self
    }

    /// How often the event rate and the lags are sampled (every second by default).
    pub fn sample_every(mut self, every: Duration) -> Self {
        self.sample_every = every.max(Duration::from_millis(10));
        self
    }

    /// Creates the audit table in the read store's database if missing; safe at every start.
    pub async fn migrate(&self) -> Result<(), AdminError> {
        audit::migrate(&self.read).await
    }

    /// The router of the pages, to mount where the application likes (`Router::nest`), or to
    /// serve alone. Starts the sampler, which ends when the router and its clones are dropped;
    /// call it inside a tokio runtime.
    pub fn router(self) -> Router {
        let shared = Arc::new(Shared {
            source: self.source,
            read: self.read,
            guard: Guard::new(self.tokens),
            masked: self.masked,
            prometheus: self.prometheus,
            samples: Mutex::default(),
            sample_every: self.sample_every,
        });
        sampler::spawn(&shared, shared.sample_every);
        Router::new()
            .route("/", get(pages::dashboard::page::<S, R>))
            .route("/streams", get(pages::streams::list::<S, R>))
            .route("/stream", get(pages::streams::show::<S, R>))
            .route("/trace", get(pages::trace::page::<S, R>))
            .route("/projection", get(pages::projection::page::<S, R>))
            .route("/dead-letters", get(pages::dead_letters::list::<S, R>))
            .route("/retry", post(pages::dead_letters::retry::<S, R>))
            .route("/skip", post(pages::dead_letters::skip::<S, R>))
            .route("/audit", get(pages::audit::page::<S, R>))
            .route(
                "/login",
                get(pages::login::form::<S, R>).post(pages::login::login::<S, R>),
            )
            .route("/logout", post(pages::login::logout::<S, R>))
            .route("/metrics", get(pages::metrics::page::<S, R>))
            .fallback(pages::not_found)
            .with_state(shared)
    }
}
