//! The key store: a key per data subject, kept apart from the events, and its tombstones.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::core::error::StoreError;
use crate::core::future::BoxFuture;
use crate::core::tenant::Tenant;

/// A data subject: the id its events' `#[pii(subject = ...)]` field holds, within the tenant
/// whose events hold it. The same id in two tenants is two subjects, with a key each: forgetting
/// one leaves the other readable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject {
    /// The tenant whose events name the subject ([`Tenant::none`] for a store bound to none).
    pub tenant: Tenant,
    /// The subject's id, as its events' subject field holds it.
    pub id: String,
}

impl Subject {
    /// The subject `id` of `tenant`.
    pub fn new(tenant: Tenant, id: impl Into<String>) -> Self {
        Self {
            tenant,
            id: id.into(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tenant.is_none() {
            write!(f, "`{}`", self.id)
        } else {
            write!(f, "`{}` of tenant `{}`", self.id, self.tenant)
        }
    }
}

/// A subject's AES-256 key. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectKey([u8; 32]);

impl SubjectKey {
    /// A key of these bytes (as a key store reads it back).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key of these bytes, if there are 32 of them; what a key store reads from a column.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The key's bytes, to store.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectKey(..)")
    }
}

/// What a key store holds for a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// The subject's key.
    Active(SubjectKey),
    /// The subject was forgotten: its key is destroyed, and the tombstone refuses new data.
    Forgotten,
}

impl KeyState {
    /// What a key table's `key` column holds for `subject`: its key, or NULL for a tombstone.
    /// Anything but 32 bytes is a corrupt row.
    pub fn from_column(subject: &Subject, key: Option<Vec<u8>>) -> Result<Self, StoreError> {
        match key {
            None => Ok(Self::Forgotten),
            Some(bytes) => {
                SubjectKey::from_slice(&bytes)
                    .map(Self::Active)
                    .ok_or_else(|| StoreError::Corrupt {
                        table: "chronicle_subject_keys",
                        detail: format!("the key of subject {subject} is not 32 bytes"),
                    })
            }
        }
    }
}

/// The subjects among `wanted` that `found` holds neither a key nor a tombstone for: those a
/// writer creates keys for. (The key tables of the SQL stores use it.)
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub fn missing<'a>(wanted: &'a [Subject], found: &HashMap<Subject, KeyState>) -> Vec<&'a Subject> {
    wanted
        .iter()
        .filter(|subject| !found.contains_key(*subject))
        .collect()
}

/// What [`KeyStore::forget`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forgotten {
    /// Whether a key was destroyed (false: the subject had none, or was forgotten before).
    pub key_destroyed: bool,
    /// The snapshots deleted because their streams hold the subject's sealed fields.
    pub snapshots_deleted: u64,
}

/// Where the subjects' keys are kept: each event store's own table by default
/// ([`EventStore::key_store`](crate::EventStore::key_store)), or one of your own (a KMS) plugged
/// in with [`Chronicle::with_key_store`](crate::Chronicle::with_key_store) and
/// [`ProjectionRunner::key_store`](crate::ProjectionRunner::key_store).
///
/// Implementations answer a whole batch's subjects in one call; the relay never calls them. A
/// subject is a tenant's ([`Subject`]): keep a key per tenant and id.
pub trait KeyStore: Send + Sync + 'static {
    /// The keys and tombstones of these subjects; a subject with neither is left out.
    fn keys<'a>(
        &'a self,
        subjects: &'a [Subject],
    ) -> BoxFuture<'a, Result<HashMap<Subject, KeyState>, StoreError>>;

    /// The keys to seal these subjects' data with, creating each missing one (with
    /// [`generate_key`](super::seal::generate_key)); a forgotten subject stays
    /// [`KeyState::Forgotten`]. Two writers creating a subject's key at once get the same one.
    fn keys_for_writing<'a>(
        &'a self,
        subjects: &'a [Subject],
    ) -> BoxFuture<'a, Result<HashMap<Subject, KeyState>, StoreError>>;

    /// Destroys `subject`'s key and leaves a tombstone (even when it had no key yet), and deletes
    /// the snapshots of the streams that hold its sealed fields (the event store's own key store
    /// does, of the subject's tenant only; another one cannot, and says so with
    /// `snapshots_deleted: 0`). Idempotent.
    fn forget<'a>(&'a self, subject: &'a Subject) -> BoxFuture<'a, Result<Forgotten, StoreError>>;
}

/// A key store shared by a `Chronicle`, its runners and their clones.
pub type SharedKeyStore = Arc<dyn KeyStore>;
