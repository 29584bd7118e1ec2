//! Running a process manager: a projection (so one runner leads across processes, its
//! checkpoint moves per batch, its failures are retried and dead-lettered, and operators see
//! it like any other) whose handler takes the process manager's steps, and whose clock fires
//! its deadlines.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::engine::{CrashHook, CrashPoint, Engine};
use super::manager::ProcessManager;
use crate::core::error::HandlerError;
use crate::core::future::BoxFuture;
use crate::core::projection::{BatchFailure, Projection};
use crate::core::read_store::ReadStore;
use crate::core::source::EventSource;
use crate::core::store::RecordedEvent;
use crate::read::runner::ProjectionRunner;
use crate::write::chronicle::Chronicle;

/// A process manager `P` as a projection into the read store `R` (which keeps its checkpoint,
/// lease and dead letters; it writes no read model), sending its commands through a
/// [`Chronicle`] on the event store `S`. Made by [`process_runner`].
pub struct ProcessProjection<P, S, R> {
    engine: Arc<Engine<P, S>>,
    store: PhantomData<fn() -> R>,
}

impl<P, S, R> fmt::Debug for ProcessProjection<P, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessProjection").finish_non_exhaustive()
    }
}

impl<P: ProcessManager, S: EventSource, R: ReadStore> ProcessProjection<P, S, R> {
    /// The process manager `P`, sending its commands through `chronicle`.
    pub fn new(chronicle: Chronicle<S>) -> Self {
        Self {
            engine: Arc::new(Engine::new(chronicle)),
            store: PhantomData,
        }
    }

    /// Test seam, not part of the API: calls `hook` at every [`CrashPoint`] of every step; when
    /// it returns `true`, the runner's task panics there, as if the process had died.
    #[doc(hidden)]
    pub fn crash_at(mut self, hook: impl Fn(&CrashPoint) -> bool + Send + Sync + 'static) -> Self {
        let hook: CrashHook = Arc::new(hook);
        match Arc::get_mut(&mut self.engine) {
            Some(engine) => engine.crash_at(hook),
            None => unreachable!("the engine is shared only once the projection runs"),
        }
        self
    }
}

impl<P: ProcessManager, S: EventSource, R: ReadStore> Projection for ProcessProjection<P, S, R> {
    const NAME: &'static str = P::NAME;
    const VERSION: u32 = 1;
    const EVENT_TYPES: &'static [&'static str] = P::EVENT_TYPES;
    const HAS_RESET: bool = false;
    type Store = R;

    /// The steps are taken before the checkpoint's transaction: they write to the event store.
    fn prepare<'a>(&'a self, events: &'a [RecordedEvent]) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(async move {
            for (index, event) in events.iter().enumerate() {
                self.engine
                    .on_event(event)
                    .await
                    .map_err(|error| BatchFailure::of_one(index, error))?;
            }
            Ok(())
        })
    }

    /// Nothing is written to the read store but the checkpoint.
    fn apply<'a>(
        &'a self,
        _event: &'a RecordedEvent,
        _connection: &'a mut R::Connection,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn reset<'a>(&'a self, _connection: &'a mut R::Connection) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn tick(&self) -> BoxFuture<'_, Result<Option<Duration>, HandlerError>> {
        Box::pin(self.engine.fire_due())
    }

    fn on_lead(&self) {
        self.engine.schedule_is_stale();
    }
}

/// A runner of the process manager `P`: it follows the events of `P`'s handlers on the store of
/// `chronicle`, takes `P`'s steps, sends its commands through `chronicle`, and fires its
/// deadlines; its checkpoint, lease and dead letters are kept in `read_store`. Configure it as
/// any [`ProjectionRunner`] (batches, retries, poison events), then `spawn` it.
///
/// ```ignore
/// let handle = chronicle::process_runner::<TransferProcess, _, _>(chronicle.clone(), read_store).spawn();
/// ```
pub fn process_runner<P, S, R>(
    chronicle: Chronicle<S>,
    read_store: R,
) -> ProjectionRunner<ProcessProjection<P, S, R>, S>
where
    P: ProcessManager,
    S: EventSource,
    R: ReadStore,
{
    let source = chronicle.store().clone();
    ProjectionRunner::new(source, read_store, ProcessProjection::new(chronicle))
}
