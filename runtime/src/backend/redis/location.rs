//! Blue/green locations in Redis: a key namespace per (projection, version) on the store's
//! server, `<prefix>:bg:<location>`, named after the store's prefix, the projection and the
//! version, holding that version's Chronicle keys (its own checkpoint, lease and dead letters)
//! and its read model's keys (`<prefix>:bg:<location>:model:<name>`, as handlers name them with
//! [`RedisWrites::key`](super::RedisWrites::key)).

use ::redis::aio::MultiplexedConnection;

use super::errors::read_store_error;
use super::read_store::{glob_escape, RedisReadStore};
use crate::core::location::{location_identifier, Locations};
use crate::core::read_store::ReadStoreError;

/// Room for a location's name: Redis keys may be far longer, but a bounded name keeps every key
/// of the location short enough to read in `redis-cli` and cheap to match.
const MAX_LOCATION_LEN: usize = 120;
/// How many keys a `SCAN` page asks for, and so how many one `UNLINK` removes at most.
const DROP_BATCH: usize = 1_000;

impl RedisReadStore {
    /// The namespace of `projection`'s location of `version`: `<prefix>:bg:<location>`. The
    /// location's name keeps only `[a-z0-9_]`, so the projection's name can hold no `:` that
    /// would reach into another namespace, and ends in the version after a hash of the prefix
    /// and the projection's whole name, so no two locations' namespaces are one the start of the
    /// other's (`..._v1:` is not the start of `..._v12:`).
    fn location_prefix(&self, projection: &str, version: u32) -> String {
        let prefix = self.key_prefix();
        let location = location_identifier(prefix, projection, version, MAX_LOCATION_LEN);
        format!("{prefix}:bg:{location}")
    }
}

/// Removes every key starting with `start`, a page of `SCAN` at a time, each page by one `UNLINK`
/// (which frees the values off the server's main thread). Keys deleted during a `SCAN` do not
/// disturb it, and a key written meanwhile is removed if the scan still reaches it.
async fn unlink_all(connection: &mut MultiplexedConnection, start: &str) -> Result<u64, ReadStoreError> {
    let pattern = format!("{}*", glob_escape(start));
    let mut cursor: u64 = 0;
    let mut removed = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(DROP_BATCH)
            .query_async(connection)
            .await
            .map_err(read_store_error)?;
        if !keys.is_empty() {
            let unlinked: u64 = ::redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(connection)
                .await
                .map_err(read_store_error)?;
            removed += unlinked;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

impl Locations for RedisReadStore {
    async fn at_location<'a>(&'a self, projection: &'a str, version: u32) -> Result<Self, ReadStoreError> {
        let prefix = self.location_prefix(projection, version);
        let models = format!("{prefix}:model:");
        let location = self.beside(prefix, models);
        location.migrate().await?;
        Ok(location)
    }

    async fn drop_location<'a>(&'a self, projection: &'a str, version: u32) -> Result<(), ReadStoreError> {
        // The `:` ends the namespace: nothing of a location whose name merely starts the same.
        let start = format!("{}:", self.location_prefix(projection, version));
        let mut connection = self.commands().await?;
        unlink_all(&mut connection, &start).await.map(drop)
    }

    async fn delete_checkpoint<'a>(&'a self, name: &'a str) -> Result<bool, ReadStoreError> {
        let mut connection = self.commands().await?;
        let deleted: u64 = ::redis::cmd("DEL")
            .arg(self.key("checkpoint", name))
            .query_async(&mut connection)
            .await
            .map_err(read_store_error)?;
        Ok(deleted == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_under_the_prefix_and_apart() {
        let store = RedisReadStore::open("redis://127.0.0.1:6379")
            .unwrap()
            .prefix("app*[1]");
        let plain = store.location_prefix("bank.balances", 1);
        assert!(
            plain.starts_with("app*[1]:bg:bg_app__1__bank_balances_"),
            "{plain}"
        );
        assert!(plain.ends_with("_v1"), "{plain}");
        let hostile = store.location_prefix("a:b*\\ ünï 𝄞", 2);
        let name = hostile.strip_prefix("app*[1]:bg:").unwrap();
        assert!(name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        assert!(store.location_prefix(&"x".repeat(1_000), 1).len() <= "app*[1]:bg:".len() + MAX_LOCATION_LEN);
        assert_ne!(store.location_prefix("a.b", 1), store.location_prefix("a_b", 1));
        assert_ne!(store.location_prefix("a", 1), store.location_prefix("a", 12));
        assert_eq!(plain, store.location_prefix("bank.balances", 1));
        let other = RedisReadStore::open("redis://127.0.0.1:6379")
            .unwrap()
            .prefix("app");
        assert_ne!(other.location_prefix("bank.balances", 1), plain);
    }

    #[test]
    fn a_location_names_read_model_keys_under_its_namespace() {
        let store = RedisReadStore::open("redis://127.0.0.1:6379").unwrap();
        assert!(!store.is_location());
        assert_eq!(store.model_key("board"), "board", "unchanged outside a location");
        let prefix = store.location_prefix("p", 3);
        let location = store.beside(prefix.clone(), format!("{prefix}:model:"));
        assert!(location.is_location());
        assert_eq!(location.key_prefix(), prefix);
        assert_eq!(location.model_key("board"), format!("{prefix}:model:board"));
    }
}
