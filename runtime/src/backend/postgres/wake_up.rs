//! Waking a Postgres store's subscribers after appends: one `NOTIFY` for many appends.
//!
//! Not a trigger on the table: Postgres serializes the commits of notifying transactions (a
//! server-wide lock held through the WAL flush), which made concurrent appends take turns. A task
//! of the store's sends the notifications instead, in statements of their own, on a connection of
//! its own. The first append after a quiet moment is signalled at once; appends during the
//! following [`SPACING`] share one more notification at its end. A busy store thus sends a few
//! hundred small notifying statements a second at most, whatever its rate of appends, and a lone
//! command's subscribers hear of it without delay.
//!
//! Subscribers of the same store (its clones share this) are also woken in-process, at once,
//! before the notification's round trip through the server (a runner beside the command that a
//! read-your-writes query waits for). The notification carries the store's token, so that those
//! subscribers pass over it when it arrives (they heard of its appends already), while every
//! other store and process is woken by it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection as _;
use tokio::sync::{watch, Notify};

/// The least time between two notifications: the most a wake-up waits for a busy store.
const SPACING: Duration = Duration::from_millis(2);

/// How often an idle notifier checks whether its store still exists.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// Not waiting for the WAL flush keeps the notifying transaction's hold on the notification lock
/// short; a lost wake-up only costs subscribers a poll.
const NOTIFY: &str = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)";

/// The signal from appends to the store's notifying task, which starts with the first append.
pub(crate) struct WakeUps {
    signal: Arc<Notify>,
    /// Whether a notifying task is running; it clears this when it ends, even when its runtime
    /// shuts down under it, so that the next append starts another.
    started: Arc<AtomicBool>,
    channel: String,
    options: PgConnectOptions,
    /// Counts this store's appends, for its own subscribers.
    local: watch::Sender<u64>,
    /// What this store's notifications carry, for its own subscribers to pass over.
    token: String,
}

impl WakeUps {
    pub(crate) fn new(channel: String, options: PgConnectOptions) -> Self {
        Self {
            signal: Arc::new(Notify::new()),
            started: Arc::new(AtomicBool::new(false)),
            channel,
            options,
            local: watch::Sender::new(0),
            token: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The payload of this store's notifications.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// What wakes this process's subscribers when it appends.
    pub(crate) fn local(&self) -> watch::Receiver<u64> {
        self.local.subscribe()
    }

    /// Wakes this process's subscribers, and asks for a notification; appends that ask while
    /// one is pending share it.
    pub(crate) fn signal(&self) {
        self.local
            .send_modify(|appends| *appends = appends.wrapping_add(1));
        self.signal.notify_one();
        if !self.started.swap(true, Ordering::AcqRel) {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let running = Running(Arc::clone(&self.started));
                    runtime.spawn(notify_loop(
                        Arc::downgrade(&self.signal),
                        (self.channel.clone(), self.token.clone()),
                        self.options.clone(),
                        running,
                    ));
                }
                // Appends run on Tokio; without it, subscribers find the events by polling.
                Err(_) => self.started.store(false, Ordering::Release),
            }
        }
    }
}

/// Sends a notification for each signal, at most one per [`SPACING`]; ends once the store that
/// signals is gone.
async fn notify_loop(
    signal: Weak<Notify>,
    (channel, token): (String, String),
    options: PgConnectOptions,
    running: Running,
) {
    // Dropped with the task, however it ends.
    let _running = running;
    let mut connection: Option<PgConnection> = None;
    loop {
        let Some(signal) = signal.upgrade() else { return };
        if tokio::time::timeout(IDLE_CHECK, signal.notified()).await.is_err() {
            continue;
        }
        drop(signal);
        if let Err(error) = notify(&mut connection, &options, &channel, &token).await {
            tracing::debug!(%error, "could not wake subscribers; they will poll");
            // Reconnect next time: the connection may be what failed.
            connection = None;
        }
        // Appends during this pause leave one stored signal: one notification for all of them.
        tokio::time::sleep(SPACING).await;
    }
}

/// Clears the "started" flag when the notifying task ends.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

async fn notify(
    connection: &mut Option<PgConnection>,
    options: &PgConnectOptions,
    channel: &str,
    token: &str,
) -> Result<(), sqlx::Error> {
    let connection = match connection {
        Some(connection) => connection,
        None => connection.insert(PgConnection::connect_with(options).await?),
    };
    sqlx::query(NOTIFY)
        .bind(channel)
        .bind(token)
        .execute(connection)
        .await
        .map(drop)
}
