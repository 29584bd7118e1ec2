//! The stores of the matrix: how each one is opened fresh, migrated and empty for one test, and
//! cleaned up after it.
//!
//! To run the whole suite on another backend, write its `async fn` here and add its line to the
//! matrix in [`conformance_suite!`](crate::conformance_suite).

use chronicle::{GroupCommit, MemoryStore, PostgresStore, SqliteStore};

use crate::support::{self, TempFile};

/// One test's store, and what to clean up when the test has passed.
#[derive(Debug)]
pub struct Fixture<S> {
    store: S,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Nothing,
    /// Removed when dropped, also when the test fails.
    File(#[allow(dead_code)] TempFile),
    /// Dropped when the test passes; a failed test leaves it for inspection.
    Schema(PostgresStore),
}

impl<S: Clone> Fixture<S> {
    /// The store under test (clones share everything).
    pub fn store(&self) -> S {
        self.store.clone()
    }

    /// Drops what the test left behind.
    pub async fn close(self) {
        match self.cleanup {
            Cleanup::Nothing | Cleanup::File(_) => {}
            Cleanup::Schema(store) => support::drop_schema(store.pool(), store.schema()).await,
        }
    }
}

/// `MemoryStore`.
pub async fn memory() -> Fixture<MemoryStore> {
    Fixture {
        store: MemoryStore::new(),
        cleanup: Cleanup::Nothing,
    }
}

/// `SqliteStore` on a file in the temporary directory.
pub async fn sqlite() -> Fixture<SqliteStore> {
    let file = TempFile::new("chronicle-conformance");
    Fixture {
        store: support::sqlite_store_in(&file).await,
        cleanup: Cleanup::File(file),
    }
}

/// `SqliteStore` in memory: one connection, no file.
pub async fn sqlite_in_memory() -> Fixture<SqliteStore> {
    let store = SqliteStore::in_memory().await.expect("open SQLite in memory");
    store.migrate().await.expect("migrate SQLite");
    Fixture {
        store,
        cleanup: Cleanup::Nothing,
    }
}

/// `PostgresStore` in a fresh schema.
pub async fn postgres() -> Fixture<PostgresStore> {
    postgres_with(|store| store).await
}

/// `PostgresStore` in a fresh schema, grouping concurrent appends.
pub async fn postgres_group_commit() -> Fixture<PostgresStore> {
    postgres_with(|store| store.with_group_commit(GroupCommit::default())).await
}

/// `PostgresStore` in a fresh schema, with the bank's balance view applied inline by every
/// append. `migrate` prepares the view's table; its handlers see the store's schema only.
pub async fn postgres_inline() -> Fixture<PostgresStore> {
    postgres_with(|store| store.with_inline(bank::views::postgres::AccountBalances)).await
}

/// A store in a fresh schema, configured, then migrated: what an application does at start.
async fn postgres_with(configure: impl FnOnce(PostgresStore) -> PostgresStore) -> Fixture<PostgresStore> {
    let plain = support::unmigrated_postgres_store().await;
    let store = configure(plain.clone());
    store.migrate().await.expect("migrate the test schema");
    Fixture {
        store,
        cleanup: Cleanup::Schema(plain),
    }
}
