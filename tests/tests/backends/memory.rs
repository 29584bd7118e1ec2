//! `MemoryStore`: it commits in position order, like SQLite.

use chronicle::MemoryStore;

#[tokio::test]
async fn horizons_are_positions() {
    super::sqlite::horizons_are_positions(&MemoryStore::new()).await;
}
