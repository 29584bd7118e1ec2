//! `MemoryStore`: it commits in position order, like SQLite.

use chronicle::MemoryStore;

#[tokio::test]
async fn horizons_are_positions() {
    super::sqlite::horizons_are_positions(&MemoryStore::new()).await;
}

/// The default listing (a read of the log): streams by id, with a prefix, a page at a time.
#[tokio::test]
async fn streams_are_listed_a_page_at_a_time() {
    use chronicle::{Chronicle, EventStore as _};

    let store = MemoryStore::new();
    let bank = Chronicle::new(store.clone());
    for account in ["m-b", "m-a", "m-c"] {
        bank.execute(bank::OpenAccount {
            account_id: account.into(),
            owner: "someone".into(),
            overdraft_limit: 0,
        })
        .await
        .unwrap();
    }
    bank.execute(bank::Deposit {
        account_id: "m-a".into(),
        amount: 5,
    })
    .await
    .unwrap();
    let all = store.list_streams("", "", 10).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|s| s.stream_id.as_str()).collect();
    assert_eq!(ids, ["bank.Account-m-a", "bank.Account-m-b", "bank.Account-m-c"]);
    assert_eq!(all[0].version, 2);
    let page = store
        .list_streams("bank.Account-", "bank.Account-m-a", 1)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].stream_id, "bank.Account-m-b");
    assert!(store
        .list_streams("bank.Order-", "", 10)
        .await
        .unwrap()
        .is_empty());
}
