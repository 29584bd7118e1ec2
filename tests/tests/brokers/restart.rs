//! A RabbitMQ node stopped and started again mid-stream (a throwaway node, never the shared one):
//! the relay and a consumer reconnect by themselves, nothing is lost, and the consumer's view
//! equals a replay.

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::{Consumer, RabbitMqPublisher, RabbitMqSubscriber, Relay};
use chronicle_tests::brokers::{unique, Rabbit, ThrowawayRabbit};
use chronicle_tests::ledger::{assert_ledger_is_replay, Ledger};
use chronicle_tests::support;
use chronicle_tests::wait::{eventually, DEADLINE};

use crate::{bank, traffic};

#[tokio::test]
async fn a_rabbitmq_restart_mid_stream_loses_nothing() {
    let mut node = ThrowawayRabbit::new();
    node.start().await;
    let exchange = unique("restart");
    let publisher = RabbitMqPublisher::new(node.url())
        .exchange(&exchange)
        .timeout(Duration::from_secs(3));
    publisher.connect().await.expect("the node answers");
    let queue = Rabbit::connect_to(&node.url())
        .await
        .durable_queue(&exchange, "#")
        .await;

    let (store, read, bank) = bank().await;
    let remote = support::postgres_read_store_elsewhere().await;
    let subscriber = RabbitMqSubscriber::new(node.url())
        .exchange(&exchange)
        .timeout(Duration::from_secs(3));
    let consumer = Consumer::new(subscriber, remote.clone(), Ledger::default())
        .name("through-restart")
        .spawn();
    consumer
        .wait_until_subscribed(DEADLINE)
        .await
        .expect("the consumer subscribes");
    let first = traffic(&bank, 2, 2).await;
    let handle = ProjectionRunner::new(store.clone(), read, Relay::new("through-restart", publisher)).spawn();
    handle
        .wait_for(first.position, DEADLINE)
        .await
        .expect("published");

    node.stop();
    let mut last = first;
    for n in 0..6 {
        last = bank
            .execute(bank::Deposit {
                account_id: format!("acc-{}", n % 2),
                amount: 5,
            })
            .await
            .expect("commands go on while the broker is away");
    }
    eventually("the relay to report the broker away", DEADLINE, || async {
        let status = handle.status().await.expect("status");
        (status.lag_events > 0
            && status
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("RabbitMQ at")))
        .then_some(())
    })
    .await;

    node.start().await;
    handle
        .wait_for(last.position, DEADLINE)
        .await
        .expect("published once the node is back");
    let log = store.read_all(0, 100).await.expect("log");
    let rabbit = Rabbit::connect_to(&node.url()).await;
    let received = rabbit.take_n(&queue, log.len(), DEADLINE).await;
    let ids: std::collections::HashSet<_> = received.iter().map(|m| m.event().event_id).collect();
    let logged: std::collections::HashSet<_> = log.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, logged, "every event arrived");
    consumer
        .wait_for(&last, DEADLINE)
        .await
        .expect("the consumer resubscribes by itself");
    assert_ledger_is_replay(&remote, &log).await;
    consumer.stop().await.into_result().expect("the consumer stops");
    handle.stop().await.into_result().expect("stop");
}
