//! The relay to NATS JetStream (and, through a server restart, a consumer from it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chronicle::message::{header, topic_part};
use chronicle::prelude::*;
use chronicle::{Consumer, NatsPublisher, NatsSubscriber, Relay};
use chronicle_tests::brokers::{nats_address, nats_stream_messages, unique, ThrowawayNats};
use chronicle_tests::ledger::{assert_ledger_is_replay, Ledger};
use chronicle_tests::support;
use chronicle_tests::wait::{eventually, DEADLINE};

use crate::{assert_each_event_once, bank, traffic};

/// A publisher to a stream and subjects of the test's own on `address`; returns the stream's
/// name and the subject prefix too.
fn publisher(address: &str) -> (NatsPublisher, String, String) {
    let stream = unique("T").to_uppercase();
    let prefix = unique("t");
    let publisher = NatsPublisher::new(address)
        .stream(&stream)
        .subject_prefix(&prefix)
        .timeout(Duration::from_secs(3));
    (publisher, stream, prefix)
}

#[tokio::test]
async fn every_event_is_stored_once_in_order_with_its_headers() {
    let (store, read, bank) = bank().await;
    let (publisher, stream, prefix) = publisher(&nats_address());
    publisher.connect().await.expect("NATS answers");
    let last = traffic(&bank, 3, 3).await;
    let handle = ProjectionRunner::new(store.clone(), read, Relay::new("to-nats", publisher))
        .batch_size(4)
        .spawn();
    handle
        .wait_for(last.position, DEADLINE)
        .await
        .expect("acknowledged");
    let received = nats_stream_messages(&nats_address(), &stream).await;
    let events: Vec<_> = received.iter().map(|message| message.event()).collect();
    assert_each_event_once(&store, &events).await;
    let log = store.read_all(0, 100).await.expect("the log");
    for (message, stored) in received.iter().zip(&log) {
        assert_eq!(
            message.message_id.as_deref(),
            Some(stored.event_id.to_string().as_str())
        );
        assert_eq!(
            message.topic,
            format!("{prefix}.bank%2EAccount.{}", topic_part(&stored.event_type))
        );
        assert_eq!(
            message.header(header::STREAM_VERSION),
            stored.stream_version.to_string()
        );
        assert_eq!(message.event().payload.get(), stored.payload.get());
    }
    handle.stop().await.into_result().expect("stop");
}

#[tokio::test]
async fn a_batch_published_again_after_a_crash_is_stored_once() {
    let (store, read, bank) = bank().await;
    let (publisher, stream, prefix) = publisher(&nats_address());
    let last = traffic(&bank, 2, 2).await;
    // The first batch is published and acknowledged, then the runner "crashes" before its
    // checkpoint commits: the next runner publishes the same events again.
    let crashed = Arc::new(AtomicBool::new(false));
    let once = crashed.clone();
    let handle = ProjectionRunner::new(store.clone(), read.clone(), Relay::new("crashing", publisher))
        .crash_before_commit(move |_| !once.swap(true, Ordering::SeqCst))
        .spawn();
    let exit = handle.join().await;
    assert!(crashed.load(Ordering::SeqCst));
    assert!(exit.is_err(), "the runner ended on the simulated crash");
    assert_eq!(handle_position(&read).await, 0, "nothing committed");

    let again = NatsPublisher::new(nats_address())
        .stream(&stream)
        .subject_prefix(&prefix);
    let handle = ProjectionRunner::new(store.clone(), read, Relay::new("crashing", again)).spawn();
    handle.wait_for(last.position, DEADLINE).await.expect("published");
    let received = nats_stream_messages(&nats_address(), &stream).await;
    let events: Vec<_> = received.iter().map(|message| message.event()).collect();
    assert_each_event_once(&store, &events).await;
    handle.stop().await.into_result().expect("stop");
}

/// Where the relay `crashing` committed its checkpoint (0: never).
async fn handle_position(read: &PostgresReadStore) -> u64 {
    read.read_checkpoint("crashing")
        .await
        .expect("checkpoint")
        .map_or(0, |row| row.checkpoint.position)
}

#[tokio::test]
async fn a_server_killed_mid_stream_loses_nothing_once_it_is_back() {
    let mut server = ThrowawayNats::new();
    server.start().await;
    let (store, read, bank) = bank().await;
    let (publisher, stream, prefix) = publisher(&server.address());
    let first = traffic(&bank, 2, 1).await;
    let handle =
        ProjectionRunner::new(store.clone(), read, Relay::new("through-a-restart", publisher)).spawn();
    handle
        .wait_for(first.position, DEADLINE)
        .await
        .expect("published");
    let remote = support::postgres_read_store_elsewhere().await;
    let subscriber = NatsSubscriber::new(server.address())
        .stream(&stream)
        .subject_prefix(&prefix)
        .timeout(Duration::from_secs(3));
    let consumer = Consumer::new(subscriber, remote.clone(), Ledger::default())
        .name("through-a-restart")
        .spawn();
    consumer.wait_for(&first, DEADLINE).await.expect("applied");

    server.stop();
    let mut last = first;
    for n in 0..5 {
        last = bank
            .execute(bank::Deposit {
                account_id: format!("acc-{}", n % 2),
                amount: 10,
            })
            .await
            .expect("commands go on while the broker is away");
    }
    eventually("the relay to report the server away", DEADLINE, || async {
        let status = handle.status().await.expect("status");
        (status.lag_events > 0
            && status
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("NATS JetStream at")))
        .then_some(())
    })
    .await;

    server.start().await;
    handle
        .wait_for(last.position, DEADLINE)
        .await
        .expect("published once the server is back");
    let received = nats_stream_messages(&server.address(), &stream).await;
    let events: Vec<_> = received.iter().map(|message| message.event()).collect();
    assert_each_event_once(&store, &events).await;
    consumer
        .wait_for(&last, DEADLINE)
        .await
        .expect("the consumer resubscribes by itself");
    let log = store.read_all(0, 1000).await.expect("log");
    assert_ledger_is_replay(&remote, &log).await;
    consumer.stop().await.into_result().expect("the consumer stops");
    handle.stop().await.into_result().expect("stop");
}

#[tokio::test]
async fn a_relay_from_the_embedded_sqlite_store_publishes_every_event_once() {
    let file = chronicle_tests::support::TempFile::new("relay");
    let store = chronicle_tests::support::sqlite_store_in(&file).await;
    let read = chronicle_tests::support::sqlite_read_store().await;
    let bank = Chronicle::new(store.clone());
    let mut last = None;
    for n in 0..3 {
        last = bank
            .execute(bank::OpenAccount {
                account_id: format!("s-{n}"),
                owner: "Ann".into(),
                overdraft_limit: 0,
            })
            .await
            .expect("open")
            .position;
    }
    let (publisher, stream, _prefix) = publisher(&nats_address());
    let handle = ProjectionRunner::new(store.clone(), read, Relay::new("from-sqlite", publisher)).spawn();
    handle.wait_for(last, DEADLINE).await.expect("published");
    let received = nats_stream_messages(&nats_address(), &stream).await;
    let log = store.read_all(0, 10).await.expect("log");
    let ids: Vec<_> = received.iter().map(|m| m.event().event_id).collect();
    let logged: Vec<_> = log.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, logged, "every event once, in log order");
    handle.stop().await.into_result().expect("stop");
}
