//! What the embedded command line keeps of each registered projection: its type erased behind
//! the commands that need it, with its read store.

use chronicle::{BoxFuture, EventSource, Projection, Replayed, Until};

use super::rebuild::{rebuild, Rebuilt};
use super::replay::ReplayTarget;
use crate::error::CliError;

/// One registered projection, as the commands use it.
pub(crate) trait Registered<S>: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    fn rebuild<'a>(&'a self, source: &'a S) -> BoxFuture<'a, Result<Rebuilt, CliError>>;
    fn pause(&self) -> BoxFuture<'_, Result<bool, CliError>>;
    fn resume(&self) -> BoxFuture<'_, Result<bool, CliError>>;
    fn replay<'a>(
        &'a self,
        source: &'a S,
        into: &'a str,
        until: Until,
    ) -> BoxFuture<'a, Result<Replayed, CliError>>;
}

/// A projection of type `P`: how to make one, and its read store.
pub(crate) struct Typed<P: Projection> {
    pub(crate) make: fn() -> P,
    pub(crate) store: P::Store,
}

impl<P, S> Registered<S> for Typed<P>
where
    P: Projection,
    P::Store: ReplayTarget,
    S: EventSource + Clone,
{
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn version(&self) -> u32 {
        P::VERSION
    }

    fn rebuild<'a>(&'a self, source: &'a S) -> BoxFuture<'a, Result<Rebuilt, CliError>> {
        Box::pin(rebuild(source, &self.store, self.make))
    }

    fn pause(&self) -> BoxFuture<'_, Result<bool, CliError>> {
        Box::pin(async move { Ok(chronicle::pause(&self.store, P::NAME).await?) })
    }

    fn resume(&self) -> BoxFuture<'_, Result<bool, CliError>> {
        Box::pin(async move { Ok(chronicle::resume(&self.store, P::NAME).await?) })
    }

    fn replay<'a>(
        &'a self,
        source: &'a S,
        into: &'a str,
        until: Until,
    ) -> BoxFuture<'a, Result<Replayed, CliError>> {
        Box::pin(async move {
            let target = self.store.replay_target(into).await?;
            Ok(chronicle::replay_until(source, &(self.make)(), &target, until).await?)
        })
    }
}
