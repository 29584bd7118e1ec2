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
/// [`migrate`](Self::migrate) its audit table, and merge [`router`](Self::router) into the
/// application's router, its pages under [`at`](Self::at)'s path (or serve it alone, as
/// `chronicle admin --listen` does, at the root).
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
    base: String,
}

impl<S, R> std::fmt::Debug for Admin<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("tokens", &self.tokens)
            .field("masked", &self.masked)
            .field("prometheus", &self.prometheus.is_some())
            .field("sample_every", &self.sample_every)
            .field("base", &self.base)
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
    /// The path the pages are under, without a trailing `/` (empty at the root).
    pub(crate) base: String,
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
            base: String::new(),
        }
    }

    /// Puts the pages under `path` (as in `/admin`): the dashboard is at `/admin/` (and
    /// `/admin`), the streams at `/admin/streams`, and every link and redirect says so. At the
    /// root by default.
    pub fn at(mut self, path: &str) -> Self {
        let trimmed = path.trim_end_matches('/');
        self.base = if trimmed.is_empty() || trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        };
        self
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

    /// The router of the pages, under [`at`](Self::at)'s path: serve it alone, or `merge` it
    /// into the application's router (it has no fallback of its own, so it merges with any;
    /// unknown paths under its own get its 404 page). Starts the sampler, which ends when the
    /// router and its clones are dropped; call it inside a tokio runtime.
    pub fn router(self) -> Router {
        let base = self.base.clone();
        let shared = Arc::new(Shared {
            source: self.source,
            read: self.read,
            guard: Guard::new(self.tokens),
            masked: self.masked,
            prometheus: self.prometheus,
            samples: Mutex::default(),
            sample_every: self.sample_every,
            base: self.base,
        });
        sampler::spawn(&shared, shared.sample_every);
        let at = |path: &str| format!("{base}{path}");
        let mut router = Router::new()
            .route(&at("/"), get(pages::dashboard::page::<S, R>))
            .route(&at("/streams"), get(pages::streams::list::<S, R>))
            .route(&at("/stream"), get(pages::streams::show::<S, R>))
            .route(&at("/trace"), get(pages::trace::page::<S, R>))
            .route(&at("/projection"), get(pages::projection::page::<S, R>))
            .route(&at("/dead-letters"), get(pages::dead_letters::list::<S, R>))
            .route(&at("/dead-letter"), post(pages::dead_letters::act::<S, R>))
            .route(&at("/audit"), get(pages::audit::page::<S, R>))
            .route(
                &at("/login"),
                get(pages::login::form::<S, R>).post(pages::login::login::<S, R>),
            )
            .route(&at("/logout"), post(pages::login::logout::<S, R>))
            .route(&at("/metrics"), get(pages::metrics::page::<S, R>))
            .route(&at("/{*rest}"), get(pages::not_found).post(pages::not_found));
        if !base.is_empty() {
            router = router.route(&base, get(pages::dashboard::page::<S, R>));
        }
        router.with_state(shared)
    }
}
