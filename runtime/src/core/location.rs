//! Locations: a read store of the same engine beside the store, holding one version of one
//! projection's read model, with a checkpoint table of its own.
//!
//! A blue/green rebuild ([`BlueGreenRunner`](crate::BlueGreenRunner)) builds a new version of a
//! projection in its own location while queries read the live one, so two versions never share
//! tables or a checkpoint, and a deployment of one version never resets the other's read model.

use std::future::Future;

use super::read_store::{ReadStore, ReadStoreError};

/// A read store that can open a location of its own per (projection, version): a Postgres schema,
/// a SQLite file beside the store's file, a MariaDB database (and whichever the engine of a
/// [`SqlReadStore`](crate::SqlReadStore) opens). Redis has none: its handlers name their own
/// keys, which a location could not move.
///
/// A location's name is derived from the store's own (its schema, its file), the projection's
/// name and the version, so that every process of every deployment finds the same one; any
/// projection name is turned into a safe name (its hostile characters replaced, a hash of the
/// whole name kept so that two names never meet).
pub trait Locations: ReadStore {
    /// The store of `projection`'s read model of `version`, created and migrated if missing.
    /// Opening it again later gives the same location.
    fn at_location<'a>(
        &'a self,
        projection: &'a str,
        version: u32,
    ) -> impl Future<Output = Result<Self, ReadStoreError>> + Send + 'a;

    /// Removes `projection`'s location of `version` with everything in it (its read model, its
    /// checkpoint, its dead letters). Removing a location that is gone does nothing.
    fn drop_location<'a>(
        &'a self,
        projection: &'a str,
        version: u32,
    ) -> impl Future<Output = Result<(), ReadStoreError>> + Send + 'a;

    /// Deletes the checkpoint row `name` of this store (the registration of a dropped location),
    /// in a statement of its own on the store's pool; `false` when there was none.
    fn delete_checkpoint<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Future<Output = Result<bool, ReadStoreError>> + Send + 'a;
}
