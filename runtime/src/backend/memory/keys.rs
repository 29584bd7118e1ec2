//! The memory store's key store: the keys in the store's own log, so that `forget` also drops
//! the snapshots of the streams holding the subject's sealed fields.

use std::collections::HashMap;

use super::store::MemoryStore;
use crate::core::error::StoreError;
use crate::core::future::BoxFuture;
use crate::core::pii::keys::{Forgotten, KeyState, KeyStore, Subject};
use crate::core::pii::seal::{generate_key, sealed_subject};
use crate::core::tenant::Tenant;

impl KeyStore for MemoryStore {
    fn keys<'a>(
        &'a self,
        subjects: &'a [Subject],
    ) -> BoxFuture<'a, Result<HashMap<Subject, KeyState>, StoreError>> {
        let log = self.log();
        let found = subjects
            .iter()
            .filter_map(|subject| Some((subject.clone(), log.keys.get(subject)?.clone())))
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn keys_for_writing<'a>(
        &'a self,
        subjects: &'a [Subject],
    ) -> BoxFuture<'a, Result<HashMap<Subject, KeyState>, StoreError>> {
        let mut log = self.log();
        let found = subjects
            .iter()
            .map(|subject| {
                let state = log
                    .keys
                    .entry(subject.clone())
                    .or_insert_with(|| KeyState::Active(generate_key()));
                (subject.clone(), state.clone())
            })
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn forget<'a>(&'a self, subject: &'a Subject) -> BoxFuture<'a, Result<Forgotten, StoreError>> {
        let mut log = self.log();
        let previous = log.keys.insert(subject.clone(), KeyState::Forgotten);
        let holding: Vec<(Tenant, String)> = log
            .snapshots
            .keys()
            .filter(|(tenant, stream)| {
                *tenant == subject.tenant
                    && log.events.iter().any(|event| {
                        event.tenant == tenant.as_str()
                            && &event.stream_id == stream
                            && holds_subject(event.payload.get(), &subject.id)
                    })
            })
            .cloned()
            .collect();
        for stream in &holding {
            log.snapshots.remove(stream);
        }
        let forgotten = Forgotten {
            key_destroyed: matches!(previous, Some(KeyState::Active(_))),
            snapshots_deleted: holding.len() as u64,
        };
        Box::pin(async move { Ok(forgotten) })
    }
}

/// Whether a stored payload holds a field sealed for `subject`.
fn holds_subject(payload: &str, subject: &str) -> bool {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(payload).is_ok_and(|object| {
        object
            .values()
            .any(|value| sealed_subject(value) == Some(subject))
    })
}
