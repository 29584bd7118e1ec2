//! Personal data on the write side: sealing a command's `#[pii]` fields before the append,
//! revealing them when a stream is read back, and forgetting a data subject.

use super::chronicle::Chronicle;
use crate::core::error::StoreError;
use crate::core::event::EventSet;
use crate::core::pii::keys::{Forgotten, KeyStore, SharedKeyStore, Subject};
use crate::core::pii::payload::{may_be_sealed, reveal, seal_events};
use crate::core::store::{EventStore, NewEvent, RecordedEvent, StreamEvent};

impl<S: EventStore> Chronicle<S> {
    /// Keeps the subjects' keys of `#[pii]` fields in `keys` instead of the event store's own
    /// table ([`EventStore::key_store`]). Give projection runners the same one
    /// ([`ProjectionRunner::key_store`](crate::ProjectionRunner::key_store)).
    pub fn with_key_store(mut self, keys: SharedKeyStore) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The key store `#[pii]` fields are sealed with, if there is one.
    pub fn key_store(&self) -> Option<&SharedKeyStore> {
        self.keys.as_ref()
    }

    /// Forgets the data subject `subject` of this handle's tenant
    /// ([`for_tenant`](Chronicle::for_tenant); the same id in another tenant is another subject,
    /// left as it is): destroys its key, so that every `#[pii]` field sealed
    /// under it reads redacted from now on (aggregates, history, projections rebuilt), deletes
    /// the snapshots of the streams that hold such fields, empties this process's state cache,
    /// and leaves a tombstone so that new personal data of the subject is refused
    /// ([`StoreError::SubjectForgotten`]). Idempotent.
    ///
    /// Other processes' caches keep the states they hold until those are evicted or the
    /// processes restart; read models built before keep what they were given until they are
    /// rebuilt. See the book's chapter on forgetting.
    pub async fn forget(&self, subject: &str) -> Result<Forgotten, StoreError> {
        let keys = self.keys.as_ref().ok_or(StoreError::NoKeyStore {
            event_type: "(forget)",
        })?;
        let subject = Subject::new(self.store.tenant().clone(), subject);
        let forgotten = keys.forget(&subject).await?;
        self.cache.clear();
        tracing::info!(
            key_destroyed = forgotten.key_destroyed,
            snapshots_deleted = forgotten.snapshots_deleted,
            "forgot a data subject"
        );
        Ok(forgotten)
    }

    /// `events` (encoded as `new_events`) with their `#[pii]` fields sealed.
    pub(super) async fn sealed<E: EventSet>(
        &self,
        events: &[E],
        mut new_events: Vec<NewEvent>,
    ) -> Result<Vec<NewEvent>, StoreError> {
        let fields: Vec<_> = events.iter().map(EventSet::pii_fields).collect();
        if fields.iter().any(|fields| !fields.is_empty()) {
            seal_events(
                &mut new_events,
                &fields,
                self.keys.as_deref().map(|keys| keys as &dyn KeyStore),
                self.store.tenant(),
            )
            .await?;
        }
        Ok(new_events)
    }

    /// `stream`'s events after `from`, their sealed fields revealed (or marked forgotten).
    pub(super) async fn read_revealed(
        &self,
        stream: &str,
        from: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.store.read_stream(stream, from).await?;
        reveal(&mut events, self.keys.as_deref()).await?;
        Ok(events)
    }

    /// `stream`'s events after `from` as a load applies them, read light
    /// ([`EventStore::read_stream_payloads`]); when one may hold a sealed field and there are
    /// keys to open it, the whole events are read and revealed instead.
    pub(super) async fn read_payloads_revealed(
        &self,
        stream: &str,
        from: u64,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        let events = self.store.read_stream_payloads(stream, from).await?;
        if self.keys.is_none() || !events.iter().any(|event| may_be_sealed(&event.payload)) {
            return Ok(events);
        }
        let revealed = self.read_revealed(stream, from).await?;
        Ok(revealed.into_iter().map(StreamEvent::from).collect())
    }
}
