//! Leadership: becoming the one active runner of a projection (and rebuilding when its version
//! changed), serving requests only the leader can, and letting go.

use tokio::time::Instant;

use super::handle::Request;
use super::session::Session;
use super::worker::{Conn, Worker};
use crate::core::error::error_chain;
use crate::core::projection::Projection;
use crate::core::read_store::ReadStore;
use crate::core::source::EventSource;
use crate::read::control::says_paused;
use crate::read::error::ProjectionError;
use crate::read::layout::{count_of, marker_name, paused_name};
use crate::read::status::RunnerState;

impl<P: Projection, S: EventSource> Worker<P, S> {
    /// Tries to become the active runner; on success, loads the checkpoint (and the dead
    /// letters a replay may clear) and rebuilds if the projection's version changed.
    pub(super) async fn lead(
        &mut self,
        spare: &mut Option<Conn<P>>,
    ) -> Result<Option<Session<P::Store>>, ProjectionError> {
        let mut connection = match spare.take() {
            Some(connection) => connection,
            None => self.store.connect().await?,
        };
        // A paused projection is not claimed at all, so that while an operator holds it nobody
        // holds its lead, not even for the moment a claim takes to be given back. (Paused after
        // this look, it is found below, once claimed.)
        if says_paused(
            self.store
                .load_checkpoint(&mut connection, paused_name(P::NAME))
                .await?,
        ) {
            *spare = Some(connection);
            self.set_leader(false, RunnerState::Paused);
            return Ok(None);
        }
        let allowed = self.config.may_lead.as_ref().is_none_or(|may_lead| may_lead());
        if !allowed
            || !self
                .store
                .try_lead(&mut connection, self.name(), self.owner, self.config.lease)
                .await?
        {
            *spare = Some(connection);
            let mut observed = self.shared.observed();
            if observed.state != RunnerState::Standby {
                tracing::info!("another runner is active; standing by");
            }
            observed.state = RunnerState::Standby;
            observed.leader = false;
            return Ok(None);
        }
        if self.projection.identity().partition.is_none() {
            // A read model built in partitions must not be written by an unpartitioned runner too.
            if let Some(marker) = self
                .store
                .load_checkpoint(&mut connection, marker_name(self.name()))
                .await?
            {
                let _ = self
                    .store
                    .release_lead(&mut connection, self.name(), self.owner)
                    .await;
                return Err(ProjectionError::Partitioned {
                    projection: self.name(),
                    partitions: count_of(marker).unwrap_or_default(),
                });
            }
        }
        if says_paused(
            self.store
                .load_checkpoint(&mut connection, paused_name(P::NAME))
                .await?,
        ) {
            let _ = self
                .store
                .release_lead(&mut connection, self.name(), self.owner)
                .await;
            *spare = Some(connection);
            if self.shared.observed().state != RunnerState::Paused {
                tracing::info!("paused by an operator; leading nothing until resumed");
            }
            self.set_leader(false, RunnerState::Paused);
            return Ok(None);
        }
        let row = self.store.load_checkpoint(&mut connection, self.name()).await?;
        let mut session = Session {
            connection,
            row,
            renewed: Instant::now(),
            dead_letters: Default::default(),
        };
        tracing::info!(checkpoint = ?session.checkpoint(), "leading");
        self.set_leader(true, RunnerState::CatchingUp);
        let needs_reset = match row {
            Some(row) if row.version != self.version() => {
                if !P::HAS_RESET {
                    return Err(ProjectionError::VersionChanged {
                        projection: self.name(),
                        stored: row.version,
                        current: self.version(),
                    });
                }
                tracing::info!(stored = row.version, "projection version changed; rebuilding");
                true
            }
            Some(_) => false,
            // Never built: `#[reset]` prepares an empty read model (creates its tables).
            None => P::HAS_RESET,
        };
        if needs_reset && !self.reset(&mut session).await? {
            self.set_leader(false, RunnerState::Standby);
            return Ok(None);
        }
        session.dead_letters = self
            .store
            .dead_letters(self.name(), self.version())
            .await?
            .iter()
            .map(|letter| letter.position)
            .collect();
        self.shared.progress.send_replace(session.checkpoint());
        Ok(Some(session))
    }

    pub(super) async fn serve(&mut self, request: Request, session: &mut Option<Session<P::Store>>) {
        match request {
            Request::Rebuild(reply) => {
                let result = match session {
                    None => Err(ProjectionError::NotLeader {
                        projection: self.name(),
                    }),
                    Some(active) => match self.reset(active).await {
                        Ok(true) => Ok(()),
                        Ok(false) => {
                            *session = None;
                            self.set_leader(false, RunnerState::Standby);
                            Err(ProjectionError::NotLeader {
                                projection: self.name(),
                            })
                        }
                        Err(error) => {
                            if error.is_transient() {
                                *session = None;
                                self.set_leader(false, RunnerState::Starting);
                            }
                            tracing::warn!(error = %error_chain(&error), "rebuild failed");
                            Err(error)
                        }
                    },
                };
                let _ = reply.send(result);
            }
        }
    }

    /// Gives up leadership and closes the runner's session.
    pub(super) async fn release(&self, session: Option<Session<P::Store>>) {
        if let Some(mut session) = session {
            if let Err(error) = self
                .store
                .release_lead(&mut session.connection, self.name(), self.owner)
                .await
            {
                tracing::debug!(error = %error_chain(&error), "could not release leadership; it lapses");
            }
            // Closing the session also ends a session-bound claim.
            P::Store::close(session.connection).await;
        }
        self.set_leader(false, RunnerState::Stopped);
    }
}
