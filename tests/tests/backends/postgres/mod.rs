//! `PostgresStore`: what only Postgres does. Every test works in a schema of its own (see
//! `chronicle_tests::support`), dropped when it passes.

mod connections;
mod forgetting;
mod group_commit;
mod inline;
mod layout;
mod restart;
mod roles;
mod rows;
mod subscription;
mod writers_restart;

use chronicle::PostgresStore;
use chronicle_tests::support;

/// A migrated store in a new, empty schema, on a pool of its own.
pub async fn fresh_store() -> PostgresStore {
    let store = support::unmigrated_postgres_store().await;
    store.migrate().await.expect("migrate");
    store
}

/// Drops the test's schema; a failed test leaves its schema behind for inspection.
pub async fn cleanup(store: PostgresStore) {
    support::drop_schema(store.pool(), store.schema()).await;
}
