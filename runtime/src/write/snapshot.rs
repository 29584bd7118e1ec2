//! Snapshots of aggregate state: written in the background every `snapshot_every` events (never
//! holding up or failing a command), read back when loading, ignored when unusable.

use chrono::Utc;
use tracing::Instrument;

use super::chronicle::{stream_of, Chronicle};
use crate::core::aggregate::Aggregate;
use crate::core::error::StoreError;
use crate::core::store::{EventStore, Snapshot};

impl<S: EventStore> Chronicle<S> {
    /// Loads aggregate `A` and writes a snapshot of it now (commands write them in the
    /// background every `snapshot_every` events; this is for tools, warming a store after
    /// `snapshot_version` changed, and benchmarks). Returns the stream version snapshotted:
    /// `None` when `A` keeps no snapshots or the stream is empty.
    pub async fn take_snapshot<A: Aggregate>(&self, id: impl ToString) -> Result<Option<u64>, StoreError> {
        if A::SNAPSHOT_EVERY == 0 {
            return Ok(None);
        }
        let stream = stream_of::<A>(&id.to_string())?;
        let loaded = self.load_stream::<A>(&stream).await?;
        if loaded.version == 0 {
            return Ok(None);
        }
        write_snapshot(&self.store, stream, &loaded.state, loaded.version).await?;
        Ok(Some(loaded.version))
    }

    /// Writes a snapshot without holding up the caller: on a task of its own when a Tokio
    /// runtime is running (else right away). A failure is only logged: snapshots are a cache.
    pub(super) async fn snapshot_in_background<A: Aggregate>(&self, stream: String, state: A, version: u64) {
        let store = self.store.clone();
        let span = tracing::debug_span!("chronicle.snapshot", stream = %stream, version);
        let write = async move {
            match write_snapshot(&store, stream, &state, version).await {
                Ok(()) => tracing::debug!("snapshot written"),
                Err(error) => tracing::warn!(%error, "cannot write a snapshot; the next one may succeed"),
            }
        }
        .instrument(span);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(write)),
            Err(_) => write.await,
        }
    }
}

/// Serializes `state` and stores it as the snapshot of `stream` at `version`.
async fn write_snapshot<A: Aggregate, S: EventStore>(
    store: &S,
    stream: String,
    state: &A,
    version: u64,
) -> Result<(), StoreError> {
    let Some(encoded) = state.to_snapshot() else {
        return Ok(());
    };
    let state = encoded.map_err(|source| StoreError::Encode {
        event_type: A::NAME,
        source,
    })?;
    store
        .write_snapshot(Snapshot {
            stream_id: stream,
            aggregate_type: A::NAME.to_owned(),
            snapshot_version: A::SNAPSHOT_VERSION,
            stream_version: version,
            state,
            taken_at: Utc::now(),
        })
        .await
}

/// The state in `snapshot`, or why it cannot be used.
pub(super) fn restore<A: Aggregate>(snapshot: &Snapshot) -> Result<A, String> {
    if snapshot.aggregate_type != A::NAME {
        return Err(format!(
            "it is a snapshot of aggregate `{}`, not `{}`",
            snapshot.aggregate_type,
            A::NAME
        ));
    }
    if snapshot.snapshot_version != A::SNAPSHOT_VERSION {
        return Err(format!(
            "its snapshot_version is {}, the aggregate's is {}",
            snapshot.snapshot_version,
            A::SNAPSHOT_VERSION
        ));
    }
    match A::from_snapshot(&snapshot.state) {
        Some(Ok(state)) => Ok(state),
        Some(Err(error)) => Err(format!("its state does not match the aggregate's: {error}")),
        None => Err("the aggregate cannot read snapshots".to_owned()),
    }
}
