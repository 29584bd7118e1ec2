//! The relay to RabbitMQ.

use std::time::Duration;

use chronicle::message::{header, topic_part};
use chronicle::prelude::*;
use chronicle::{PublishError, Publisher, RabbitMqPublisher, Relay};
use chronicle_tests::brokers::{rabbitmq_url, unique, Rabbit};
use chronicle_tests::wait::{eventually, DEADLINE};

use crate::{assert_each_event_once, bank, traffic};

/// A publisher to an exchange of the test's own, declared.
async fn publisher() -> (RabbitMqPublisher, String) {
    let exchange = unique("chronicle_test");
    let publisher = RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange);
    publisher.connect().await.expect("RabbitMQ answers");
    (publisher, exchange)
}

#[tokio::test]
async fn every_event_arrives_once_in_order_with_its_headers() {
    let (store, read, bank) = bank().await;
    let (publisher, exchange) = publisher().await;
    let rabbit = Rabbit::connect().await;
    let queue = rabbit.bound_queue(&exchange, "#").await;
    let last = traffic(&bank, 3, 4).await;

    let relay = Relay::new("to-rabbitmq", publisher);
    let handle = ProjectionRunner::new(store.clone(), read, relay)
        .batch_size(5)
        .spawn();
    handle
        .wait_for(last.position, DEADLINE)
        .await
        .expect("published and confirmed");
    let received = rabbit.take_n(&queue, 15, DEADLINE).await;
    let events: Vec<_> = received.iter().map(|message| message.event()).collect();
    assert_each_event_once(&store, &events).await;

    let log = store.read_all(0, 100).await.expect("the log");
    for (message, stored) in received.iter().zip(&log) {
        assert_eq!(
            message.message_id.as_deref(),
            Some(stored.event_id.to_string().as_str())
        );
        assert!(message.persistent, "delivery mode 2");
        assert_eq!(message.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            message.topic,
            format!("bank%2EAccount.{}", topic_part(&stored.event_type))
        );
        assert_eq!(message.header(header::EVENT_TYPE), stored.event_type);
        assert_eq!(message.header(header::STREAM_ID), stored.stream_id);
        assert_eq!(message.header(header::POSITION), stored.position.to_string());
        assert_eq!(
            message.header(header::CORRELATION_ID),
            stored.metadata.correlation_id.to_string()
        );
        let back = message.event();
        assert_eq!(back.payload.get(), stored.payload.get());
        assert_eq!(back.metadata, stored.metadata);
    }
    let status = handle.status().await.expect("status");
    assert_eq!(status.position, last.position);
    assert_eq!(status.lag_events, 0);
    handle.stop().await.into_result().expect("a clean stop");
}

#[tokio::test]
async fn a_filtered_relay_publishes_only_what_it_is_told_and_still_moves_on() {
    let (store, read, bank) = bank().await;
    let (publisher, exchange) = publisher().await;
    let rabbit = Rabbit::connect().await;
    let queue = rabbit.bound_queue(&exchange, "#").await;
    let last = traffic(&bank, 2, 3).await;

    let relay = Relay::new("deposits-only", publisher).event_types(["bank.MoneyDeposited"]);
    let handle = ProjectionRunner::new(store.clone(), read.clone(), relay).spawn();
    handle.wait_for(last.position, DEADLINE).await.expect("caught up");
    let received = rabbit.take_n(&queue, 6, DEADLINE).await;
    assert!(received
        .iter()
        .all(|m| m.header(header::EVENT_TYPE) == "bank.MoneyDeposited"));
    handle.stop().await.into_result().expect("stop");

    // By aggregate: streams of other aggregates are skipped, and the checkpoint passes them.
    let (publisher, exchange) = self::publisher().await;
    let queue = rabbit.bound_queue(&exchange, "#").await;
    let relay = Relay::new("other-aggregate", publisher).aggregates(["shop.Order"]);
    let handle = ProjectionRunner::new(store.clone(), read, relay).spawn();
    handle.wait_for(last.position, DEADLINE).await.expect("caught up");
    assert!(
        rabbit.take(&queue).await.is_none(),
        "nothing of bank.Account published"
    );
    handle.stop().await.into_result().expect("stop");
}

#[tokio::test]
async fn bindings_select_by_aggregate_and_type() {
    let (store, read, bank) = bank().await;
    let (publisher, exchange) = publisher().await;
    let rabbit = Rabbit::connect().await;
    let opened = rabbit
        .bound_queue(&exchange, &format!("*.{}", topic_part("bank.AccountOpened")))
        .await;
    let account = rabbit
        .bound_queue(&exchange, &format!("{}.*", topic_part("bank.Account")))
        .await;
    let last = traffic(&bank, 2, 2).await;
    let handle = ProjectionRunner::new(store, read, Relay::new("bindings", publisher)).spawn();
    handle.wait_for(last.position, DEADLINE).await.expect("caught up");
    assert_eq!(rabbit.take_n(&opened, 2, DEADLINE).await.len(), 2);
    assert_eq!(rabbit.take_n(&account, 6, DEADLINE).await.len(), 6);
    assert!(rabbit.take(&opened).await.is_none(), "only the openings");
    handle.stop().await.into_result().expect("stop");
}

#[tokio::test]
async fn a_broker_that_cannot_be_reached_is_a_typed_error_retried_while_events_wait() {
    // Nothing listens on port 1 of 127.0.0.1.
    let publisher =
        RabbitMqPublisher::new("amqp://guest:guest@127.0.0.1:1/%2f").timeout(Duration::from_secs(2));
    let error = publisher.connect().await.expect_err("nothing listens there");
    assert!(matches!(error, PublishError::Unavailable { .. }), "{error:?}");
    assert!(error.is_transient());
    let text = error.to_string();
    assert!(text.contains("RabbitMQ at 127.0.0.1:1"), "{text}");
    assert!(!text.contains("guest:guest"), "no credentials in errors: {text}");
    assert_eq!(publisher.broker(), "RabbitMQ at 127.0.0.1:1");

    let (store, read, bank) = bank().await;
    let last = traffic(&bank, 1, 2).await;
    let handle = ProjectionRunner::new(store.clone(), read, Relay::new("unreachable", publisher)).spawn();
    let status = eventually("the relay to report the broker", DEADLINE, || async {
        let status = handle.status().await.expect("status");
        status
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("RabbitMQ at 127.0.0.1:1"))
            .then_some(status)
    })
    .await;
    assert!(!handle.is_finished(), "it keeps trying");
    assert_eq!(status.position, None, "nothing counts as published");
    assert_eq!(status.lag_events, 3);
    // The events wait in the log.
    assert_eq!(store.read_all(0, 10).await.expect("log").len(), 3);
    assert!(last.position.is_some());
    handle
        .stop()
        .await
        .into_result()
        .expect("stops cleanly while retrying");
}
