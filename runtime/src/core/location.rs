//! Locations: a read store of the same engine beside the store, holding one version of one
//! projection's read model, with a checkpoint table of its own; and how locations are named.
//!
//! A blue/green rebuild ([`BlueGreenRunner`](crate::BlueGreenRunner)) builds a new version of a
//! projection in its own location while queries read the live one, so two versions never share
//! tables or a checkpoint, and a deployment of one version never resets the other's read model.

use std::future::Future;

use super::read_store::{ReadStore, ReadStoreError};

/// A read store that can open a location of its own per (projection, version): a Postgres schema,
/// a SQLite file beside the store's file, a MariaDB database (and whichever the engine of a
/// [`SqlReadStore`](crate::SqlReadStore) opens), or on Redis a key namespace of its own on the
/// same server. Redis cannot move keys that handlers name themselves: there a location only holds
/// the read model's keys that handlers and `#[reset]` name through `RedisWrites::key`.
///
/// A location's name is derived from the store's own (its schema, its file, its key prefix), the
/// projection's name and the version, so that every process of every deployment finds the same
/// one; any projection name is turned into a safe name (its hostile characters replaced, a hash
/// of the whole name kept so that two names never meet).
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

/// FNV-1a 64: stable across Rust versions and builds, unlike `DefaultHasher`, so that every
/// process of every deployment derives the same name.
fn fnv1a(parts: &[&str]) -> u64 {
    parts.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, part| {
        // A separator no name can hold keeps ("ab", "c") apart from ("a", "bc").
        part.bytes()
            .chain(std::iter::once(0))
            .fold(hash, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// The identifier of `projection`'s location of `version` beside the store named `base`:
/// `bg_<base>_<projection>_<hash>_v<version>`, where the names keep only `[a-z0-9_]` (anything
/// else becomes `_`) and are cut so that the whole fits `max_len` bytes. The hash is of the names
/// as given, so two projections whose names look alike once cleaned never share a location. The
/// `bg_` prefix keeps the name clear of system names (`pg_*`) and starting with a letter.
#[cfg_attr(
    not(any(
        feature = "postgres",
        feature = "sqlite",
        feature = "mysql",
        feature = "redis"
    )),
    allow(dead_code)
)]
pub(crate) fn location_identifier(base: &str, projection: &str, version: u32, max_len: usize) -> String {
    let suffix = format!("_{:016x}_v{version}", fnv1a(&[base, projection]));
    let clean = |name: &str| -> String {
        name.chars()
            .map(|c| match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9' | '_') => c,
                _ => '_',
            })
            .collect()
    };
    let mut readable = format!("bg_{}_{}", clean(base), clean(projection));
    // ASCII only by now, so any cut is on a character boundary.
    readable.truncate(max_len.saturating_sub(suffix.len()).max(3));
    readable + &suffix
}

#[cfg(test)]
mod tests {
    use super::location_identifier;

    #[test]
    fn names_are_plain_bounded_and_distinct() {
        let plain = location_identifier("public", "bank.balances", 2, 63);
        assert!(plain.starts_with("bg_public_bank_balances_"), "{plain}");
        assert!(plain.ends_with("_v2"));
        let hostile = location_identifier("public", "Robert'); DROP SCHEMA public;--\"", 1, 63);
        assert!(hostile
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        let long = location_identifier(&"s".repeat(63), &"é".repeat(300), u32::MAX, 63);
        assert_eq!(long.len(), 63, "{long}");
        assert!(long.ends_with(&format!("_v{}", u32::MAX)));
        // Alike once cleaned, still apart; and every version apart.
        assert_ne!(
            location_identifier("public", "a.b", 1, 63),
            location_identifier("public", "a_b", 1, 63)
        );
        assert_ne!(
            location_identifier("public", "a", 1, 63),
            location_identifier("public", "a", 2, 63)
        );
        assert_ne!(
            location_identifier("ab", "c", 1, 63),
            location_identifier("a", "bc", 1, 63)
        );
        assert_eq!(plain, location_identifier("public", "bank.balances", 2, 63));
    }
}
