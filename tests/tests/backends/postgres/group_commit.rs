//! Group commit: concurrent appends to different streams share statements, and each stream keeps
//! its own optimistic check.

use std::collections::HashSet;

use chronicle::prelude::*;
use chronicle::{GroupCommit, Metadata, NewEvent, StoreError};
use chronicle_tests::support;
use futures_util::future::join_all;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::cleanup;

fn event() -> NewEvent {
    let command_id = Uuid::new_v4();
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "test.Happened",
        event_version: 1,
        payload: RawValue::from_string("{}".to_owned()).unwrap(),
        metadata: Metadata {
            command_id,
            correlation_id: command_id,
            causation_id: command_id,
            actor: None,
            extra: Default::default(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_stream_conflicts_alone_while_its_group_is_stored() {
    let plain = support::unmigrated_postgres_store().await;
    plain.migrate().await.unwrap();
    let store = plain.clone().with_group_commit(GroupCommit {
        max_batch: 64,
        committers: 1,
        // Every append queued, however few are in flight: this is about groups.
        direct_below: 0,
    });
    for stream in 0..40 {
        store
            .append(&format!("s-{stream}"), 0, vec![event()])
            .await
            .unwrap();
    }
    // Every stream is at version 1; stream 7 is told it is at 0.
    let appends = (0..40).map(|stream| {
        let store = store.clone();
        async move {
            let expected = if stream == 7 { 0 } else { 1 };
            store
                .append(&format!("s-{stream}"), expected, vec![event(), event()])
                .await
        }
    });
    let results = join_all(appends).await;
    for (stream, result) in results.iter().enumerate() {
        match (stream, result) {
            (
                7,
                Err(StoreError::Conflict {
                    stream_id,
                    expected: 0,
                }),
            ) => assert_eq!(stream_id, "s-7"),
            (7, other) => panic!("stream 7 should conflict, got {other:?}"),
            (_, Ok(receipt)) => assert_eq!(receipt.stream_version, 3),
            (_, Err(error)) => panic!("stream {stream} failed: {error}"),
        }
    }
    assert_eq!(plain.read_stream("s-7", 0).await.unwrap().len(), 1);
    let all = plain.read_all(0, 1_000).await.unwrap();
    assert_eq!(all.len(), 40 + 39 * 2);
    // The 39 two-event appends were written by fewer transactions than appends: they were grouped.
    let transactions: HashSet<u64> = all[40..].iter().map(|e| e.transaction_id).collect();
    assert!(
        transactions.len() < 39,
        "{} transactions for 39 appends",
        transactions.len()
    );
    cleanup(plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_event_in_a_group_fails_only_its_own_append() {
    let plain = support::unmigrated_postgres_store().await;
    let store = plain.clone().with_group_commit(GroupCommit {
        direct_below: 0,
        ..GroupCommit::default()
    });
    store.migrate().await.unwrap();
    let repeated = event();
    store.append("d-0", 0, vec![repeated.clone()]).await.unwrap();
    let appends = (1..20).map(|stream| {
        let store = store.clone();
        let events = vec![if stream == 5 { repeated.clone() } else { event() }];
        async move { store.append(&format!("d-{stream}"), 0, events).await }
    });
    let results = join_all(appends).await;
    for (index, result) in results.into_iter().enumerate() {
        match (index + 1, result) {
            (5, Err(StoreError::DuplicateEvent { event_id })) => assert_eq!(event_id, repeated.event_id),
            (5, other) => panic!("expected a duplicate event, got {other:?}"),
            (_, result) => assert_eq!(result.unwrap().stream_version, 1),
        }
    }
    cleanup(plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_below_the_threshold_go_alone_and_above_it_share_statements() {
    let plain = support::unmigrated_postgres_store().await;
    plain.migrate().await.unwrap();
    // Nothing to group with: every append is its own transaction, as without group commit.
    let alone = plain.clone().with_group_commit(GroupCommit {
        direct_below: 1_000,
        ..GroupCommit::default()
    });
    let appends = (0..30).map(|stream| {
        let store = alone.clone();
        async move { store.append(&format!("a-{stream}"), 0, vec![event()]).await }
    });
    for result in join_all(appends).await {
        assert_eq!(result.unwrap().stream_version, 1);
    }
    let written = plain.read_all(0, 1_000).await.unwrap();
    let transactions: HashSet<u64> = written.iter().map(|e| e.transaction_id).collect();
    assert_eq!(transactions.len(), 30, "each append alone");
    // With the default threshold, 60 appends at once queue beyond the first few and share.
    let grouped = plain.clone().with_group_commit(GroupCommit::default());
    let appends = (0..60).map(|stream| {
        let store = grouped.clone();
        async move { store.append(&format!("g-{stream}"), 0, vec![event()]).await }
    });
    for result in join_all(appends).await {
        assert_eq!(result.unwrap().stream_version, 1);
    }
    let written = plain.read_all(30, 1_000).await.unwrap();
    assert_eq!(written.len(), 60);
    let transactions: HashSet<u64> = written.iter().map(|e| e.transaction_id).collect();
    assert!(
        transactions.len() < 60,
        "{} transactions for 60 appends",
        transactions.len()
    );
    cleanup(plain).await;
}
