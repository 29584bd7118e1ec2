//! Reading an aggregate back: its state now or at an earlier version or time, and its history
//! with metadata.

use chrono::{DateTime, Utc};

use super::chronicle::{stream_of, Chronicle};
use super::snapshot::restore;
use crate::core::aggregate::Aggregate;
use crate::core::error::StoreError;
use crate::core::event::{decode_stream_event, Envelope};
use crate::core::store::EventStore;

/// An aggregate's state as rebuilt from its stream.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    /// The state after the last event.
    pub state: A,
    /// The stream's version: how many events were applied.
    pub version: u64,
    /// The stream version of the snapshot the state was rebuilt from, if one was used (then
    /// only the events after it were read).
    pub snapshot: Option<u64>,
}

/// How much of a stream a load applies.
#[derive(Debug, Clone, Copy)]
enum Horizon {
    /// Every event.
    Latest,
    /// The events up to and including this stream version.
    Version(u64),
    /// The events recorded at or before this time.
    Time(DateTime<Utc>),
}

impl<S: EventStore> Chronicle<S> {
    /// Rebuilds the current state of aggregate `A` with the given id from its events (from its
    /// newest usable snapshot on, for aggregates declared with `snapshot_every`).
    ///
    /// This is for tests, tools and time travel; queries should read projections instead.
    pub async fn load<A: Aggregate>(&self, id: impl ToString) -> Result<Loaded<A>, StoreError> {
        self.load_stream(&stream_of::<A>(&id.to_string())?).await
    }

    /// The state of aggregate `A` as it was at stream version `version`: after its first
    /// `version` events. A stream with fewer events loads whole; [`Loaded::version`] says how
    /// many were applied.
    pub async fn load_at_version<A: Aggregate>(
        &self,
        id: impl ToString,
        version: u64,
    ) -> Result<Loaded<A>, StoreError> {
        self.load_until(&stream_of::<A>(&id.to_string())?, Horizon::Version(version))
            .await
    }

    /// The state of aggregate `A` as it was at `at`: after the events its store recorded at or
    /// before that time (their `recorded_at`, the store's clock), in stream order. Loading stops
    /// at the first event recorded later, so the state is always one the stream went through.
    pub async fn load_as_of<A: Aggregate>(
        &self,
        id: impl ToString,
        at: DateTime<Utc>,
    ) -> Result<Loaded<A>, StoreError> {
        self.load_until(&stream_of::<A>(&id.to_string())?, Horizon::Time(at))
            .await
    }

    /// The stream of aggregate `A` with the given id, decoded, each event with its envelope:
    /// position, stream version, event id, stored type and version, [`Metadata`](crate::Metadata) and recorded
    /// time, in stream order. The audit log of one aggregate.
    pub async fn history<A: Aggregate>(
        &self,
        id: impl ToString,
    ) -> Result<Vec<Envelope<A::Event>>, StoreError> {
        let recorded = self.read_revealed(&stream_of::<A>(&id.to_string())?, 0).await?;
        recorded.iter().map(Envelope::decode).collect()
    }

    /// Applies the events appended to `stream` after `loaded` was read.
    pub(super) async fn catch_up<A: Aggregate>(
        &self,
        stream: &str,
        mut loaded: Loaded<A>,
    ) -> Result<Loaded<A>, StoreError> {
        for event in &self.read_payloads_revealed(stream, loaded.version).await? {
            loaded
                .state
                .apply(&decode_stream_event::<A::Event>(stream, event)?);
            loaded.version = event.stream_version;
        }
        Ok(loaded)
    }

    pub(super) async fn load_stream<A: Aggregate>(&self, stream: &str) -> Result<Loaded<A>, StoreError> {
        self.load_until(stream, Horizon::Latest).await
    }

    async fn load_until<A: Aggregate>(
        &self,
        stream: &str,
        horizon: Horizon,
    ) -> Result<Loaded<A>, StoreError> {
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
            snapshot: None,
        };
        let mut replace_snapshot = false;
        let usable_up_to = match horizon {
            Horizon::Latest => Some(u64::MAX),
            Horizon::Version(version) => Some(version),
            // When the events up to a snapshot were recorded is not known without reading them.
            Horizon::Time(_) => None,
        };
        if let (true, Some(limit)) = (A::SNAPSHOT_EVERY > 0, usable_up_to) {
            match self.store.read_snapshot(stream).await {
                Ok(Some(snapshot)) => match restore::<A>(&snapshot) {
                    Ok(state) if snapshot.stream_version <= limit => {
                        loaded.state = state;
                        loaded.version = snapshot.stream_version;
                        loaded.snapshot = Some(snapshot.stream_version);
                    }
                    Ok(_) => {}
                    Err(reason) => {
                        replace_snapshot = true;
                        if snapshot.snapshot_version == A::SNAPSHOT_VERSION {
                            tracing::warn!(
                                stream = %stream,
                                snapshot = snapshot.stream_version,
                                %reason,
                                "ignoring a snapshot that cannot be read; loading from the first event"
                            );
                        } else {
                            tracing::info!(
                                stream = %stream,
                                snapshot = snapshot.stream_version,
                                %reason,
                                "ignoring a snapshot of another shape; loading from the first event"
                            );
                        }
                    }
                },
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    stream = %stream,
                    %error,
                    "cannot read the snapshot; loading from the first event"
                ),
            }
        }
        for event in &self.read_payloads_revealed(stream, loaded.version).await? {
            let past = match horizon {
                Horizon::Latest => false,
                Horizon::Version(version) => event.stream_version > version,
                Horizon::Time(at) => event.recorded_at > at,
            };
            if past {
                break;
            }
            loaded
                .state
                .apply(&decode_stream_event::<A::Event>(stream, event)?);
            loaded.version = event.stream_version;
        }
        if replace_snapshot && loaded.version > 0 && matches!(horizon, Horizon::Latest) {
            self.snapshot_in_background(stream.to_owned(), loaded.state.clone(), loaded.version)
                .await;
        }
        Ok(loaded)
    }
}
