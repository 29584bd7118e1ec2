//! Waiting for a Postgres store's appends: `LISTEN` on its notification channel, on a
//! connection of the listener's own.

use std::time::Duration;

use futures_util::FutureExt;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::time::Instant;

use crate::core::future::BoxFuture;
use crate::core::source::WaitForAppends;

/// Notifications taken off the connection after the first one of a wake-up, so that a
/// burst of appends wakes a subscriber once rather than once per append.
const DRAIN_AT_MOST: usize = 1024;

/// A `PgListener` on a pool of one connection of its own, so that a waiting subscriber holds
/// no connection of the store's pool; rebuilt after an error.
pub(super) struct Waiter {
    pool: PgPool,
    channel: String,
    listener: Option<PgListener>,
    /// The appends of this store, heard without the server's round trip.
    local: tokio::sync::watch::Receiver<u64>,
    /// The payload of this store's own notifications, which `local` has reported already.
    own: String,
}

impl Waiter {
    pub(super) async fn connect(
        options: PgConnectOptions,
        connect_timeout: Duration,
        channel: String,
        (local, own): (tokio::sync::watch::Receiver<u64>, String),
    ) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(connect_timeout)
            .connect_lazy_with(options);
        let mut waiter = Self {
            pool,
            channel,
            listener: None,
            local,
            own,
        };
        waiter.listener = Some(waiter.listen().await?);
        Ok(waiter)
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(&self.channel).await?;
        Ok(listener)
    }

    async fn wait_for(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // An append of this store wakes at once; its notification, arriving after, is passed
        // over by `next`.
        let mut local = self.local.clone();
        let heard = tokio::select! {
            heard = tokio::time::timeout_at(deadline, self.next()) => heard,
            changed = local.changed() => match changed {
                Ok(()) => Ok(Ok(true)),
                // The store is gone: only the server can still wake us.
                Err(_) => tokio::time::timeout_at(deadline, self.next()).await,
            },
        };
        self.local.mark_unchanged();
        match heard {
            Ok(Ok(signalled)) => signalled,
            Ok(Err(error)) => {
                tracing::debug!(%error, channel = %self.channel, "append listener failed; will reconnect");
                self.listener = None;
                // Waiting out the timeout keeps a subscriber polling at its pace rather than
                // in a tight loop while the database is away.
                tokio::time::sleep_until(deadline).await;
                false
            }
            Err(_elapsed) => false,
        }
    }

    /// The next wake-up. Cancel-safe: cancelled while reconnecting, it reconnects at the
    /// next call.
    async fn next(&mut self) -> Result<bool, sqlx::Error> {
        let Some(listener) = self.listener.as_mut() else {
            // Notifications sent while there was no listener are lost: report one.
            self.listener = Some(self.listen().await?);
            return Ok(true);
        };
        // `None`: the connection was lost and has been re-established; notifications may
        // have been missed meanwhile, so wake the subscriber anyway. A notification of this
        // store's own appends was reported in-process when they committed: passed over.
        loop {
            match listener.try_recv().await? {
                None => return Ok(true),
                Some(notification) if notification.payload() == self.own => continue,
                Some(_) => break,
            }
        }
        for _ in 0..DRAIN_AT_MOST {
            match listener.try_recv().now_or_never() {
                Some(Ok(Some(_))) => {}
                Some(Ok(None)) | None => break,
                Some(Err(_)) => {
                    self.listener = None;
                    break;
                }
            }
        }
        Ok(true)
    }
}

impl WaitForAppends for Waiter {
    fn wait(&mut self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(self.wait_for(timeout))
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}
