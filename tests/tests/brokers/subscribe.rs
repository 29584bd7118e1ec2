//! The subscribers on their own, against the real brokers: events published with the relay's
//! publishers, read back through `RabbitMqSubscriber` and `NatsSubscriber` subscriptions:
//! order, filters, redelivery, acknowledgements, dead letters, resuming after a sequence,
//! backlogs, unreadable messages and unreachable brokers.

use std::time::Duration;

use chronicle::message::{header, Message};
use chronicle::{
    Delivery, Metadata, NatsPublisher, NatsSubscriber, Publisher, RabbitMqPublisher, RabbitMqSubscriber,
    RecordedEvent, SubscribeError, Subscriber, Subscription, SubscriptionSpec,
};
use chronicle_tests::brokers::{nats_address, rabbitmq_url, unique, Rabbit};
use chronicle_tests::wait::DEADLINE;
use serde_json::value::RawValue;
use uuid::Uuid;

const WANTED: &str = "test.Wanted";
const OTHER: &str = "test.Other";
const THIRD: &str = "test.Third";

/// How long a subscriber call may take in these tests.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Events of `types`, in order, in one stream of the aggregate `test.Thing` (a `.` in it, so
/// topics are escaped), positions from `first`.
fn events(first: u64, types: &[&str]) -> Vec<RecordedEvent> {
    let stream_id = format!("test.Thing-{}", Uuid::new_v4().simple());
    let command_id = Uuid::new_v4();
    let mut extra = serde_json::Map::new();
    extra.insert("request".into(), serde_json::json!({"id": "r-1", "tags": [1, 2]}));
    types
        .iter()
        .zip(first..)
        .map(|(event_type, position)| RecordedEvent {
            position,
            transaction_id: 0,
            tenant: String::new(),
            stream_id: stream_id.clone(),
            stream_version: position,
            event_id: Uuid::new_v4(),
            event_type: (*event_type).to_owned(),
            event_version: 1,
            payload: RawValue::from_string(format!(r#"{{"n":{position}}}"#)).expect("JSON"),
            metadata: Metadata {
                command_id,
                correlation_id: command_id,
                causation_id: command_id,
                actor: Some("ann\nsmith 100%".into()),
                extra: extra.clone(),
            },
            recorded_at: chrono::Utc::now(),
        })
        .collect()
}

fn spec<'a>(consumer: &'a str, event_types: &'a [&'static str]) -> SubscriptionSpec<'a> {
    SubscriptionSpec {
        consumer,
        event_types,
        after_sequence: 0,
        prefetch: 10,
    }
}

/// The event a delivery carries, failing the test when it carries none.
fn event(delivery: &Delivery) -> &RecordedEvent {
    match &delivery.event {
        Ok(event) => event,
        Err(error) => panic!("an unreadable delivery: {error}"),
    }
}

/// Checks that `received` carry exactly `published`, in order.
fn assert_carry(received: &[Delivery], published: &[&RecordedEvent]) {
    let ids: Vec<_> = received.iter().map(|delivery| event(delivery).event_id).collect();
    let expected: Vec<_> = published.iter().map(|event| event.event_id).collect();
    assert_eq!(ids, expected, "the events published, in order");
    for (delivery, published) in received.iter().zip(published) {
        let back = event(delivery);
        assert_eq!(back.position, published.position);
        assert_eq!(back.transaction_id, published.transaction_id);
        assert_eq!(back.stream_id, published.stream_id);
        assert_eq!(back.stream_version, published.stream_version);
        assert_eq!(back.event_type, published.event_type);
        assert_eq!(back.event_version, published.event_version);
        assert_eq!(back.payload.get(), published.payload.get());
        assert_eq!(back.metadata, published.metadata);
        assert_eq!(back.recorded_at, published.recorded_at);
    }
}

/// Receives until `count` deliveries have come, within the deadline.
async fn receive_n<S: Subscription>(subscription: &mut S, count: usize) -> Vec<Delivery> {
    let started = std::time::Instant::now();
    let mut received = Vec::new();
    while received.len() < count {
        let left = DEADLINE.saturating_sub(started.elapsed());
        let batch = tokio::time::timeout(left, subscription.receive(count - received.len()))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {count} deliveries within {DEADLINE:?}",
                    received.len()
                )
            })
            .expect("receive");
        assert!(!batch.is_empty(), "receive returns at least one delivery");
        received.extend(batch);
    }
    assert_eq!(received.len(), count, "no more than asked for");
    received
}

/// Waits until the subscription's backlog is `count`, within the deadline.
async fn backlog_reaches<S: Subscription>(subscription: &mut S, count: u64) {
    let started = std::time::Instant::now();
    loop {
        let backlog = subscription.backlog().await.expect("backlog");
        if backlog == count {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "a backlog of {backlog}, not {count}, after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn subscribe<B: Subscriber>(subscriber: &B, spec: SubscriptionSpec<'_>) -> B::Subscription {
    tokio::time::timeout(DEADLINE, subscriber.subscribe(spec))
        .await
        .expect("subscribed in time")
        .unwrap_or_else(|error| panic!("subscribe: {error}"))
}

async fn subscribe_error<B: Subscriber>(subscriber: &B, spec: SubscriptionSpec<'_>) -> SubscribeError {
    match tokio::time::timeout(DEADLINE, subscriber.subscribe(spec))
        .await
        .expect("an answer in time")
    {
        Ok(_) => panic!("subscribing to {} succeeded", subscriber.broker()),
        Err(error) => error,
    }
}

// RabbitMQ.

/// A publisher and a subscriber on an exchange of the test's own, declared.
async fn rabbitmq() -> (RabbitMqPublisher, RabbitMqSubscriber, String) {
    let exchange = unique("sub");
    let publisher = RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange);
    publisher.connect().await.expect("RabbitMQ answers");
    let subscriber = RabbitMqSubscriber::new(rabbitmq_url())
        .exchange(&exchange)
        .timeout(TIMEOUT);
    (publisher, subscriber, exchange)
}

#[tokio::test]
async fn rabbitmq_delivers_the_subscribed_types_in_order() {
    let (publisher, subscriber, _exchange) = rabbitmq().await;
    assert!(!subscriber.keeps_history());
    assert_eq!(publisher.broker(), subscriber.broker());
    let consumer = unique("c");
    let mut wanted = subscribe(&subscriber, spec(&consumer, &[WANTED])).await;
    let every = unique("c");
    let mut all = subscribe(&subscriber, spec(&every, &[])).await;

    let published = events(1, &[WANTED, OTHER, WANTED, THIRD, WANTED]);
    publisher.publish(&published).await.expect("published");
    let received = receive_n(&mut wanted, 3).await;
    assert_carry(&received, &[&published[0], &published[2], &published[4]]);
    assert!(received
        .iter()
        .all(|delivery| delivery.sequence == 0 && !delivery.redelivered));
    wanted.acknowledge(&received).await.expect("acknowledged");

    let received = receive_n(&mut all, 5).await;
    assert_carry(&received, &published.iter().collect::<Vec<_>>());
    all.acknowledge(&received).await.expect("acknowledged");

    // Nothing of the other types came in between: the next delivery is the next one wanted.
    let later = events(6, &[OTHER, THIRD, WANTED]);
    publisher.publish(&later).await.expect("published");
    let received = receive_n(&mut wanted, 1).await;
    assert_carry(&received, &[&later[2]]);
    wanted.acknowledge(&received).await.expect("acknowledged");
}

#[tokio::test]
async fn rabbitmq_redelivers_what_was_not_acknowledged_in_order() {
    let (publisher, subscriber, _exchange) = rabbitmq().await;
    let consumer = unique("c");
    let mut first = subscribe(&subscriber, spec(&consumer, &[])).await;
    let published = events(1, &[WANTED, OTHER, WANTED, OTHER, WANTED]);
    publisher.publish(&published).await.expect("published");
    let received = receive_n(&mut first, 5).await;
    // Acknowledged out of order, not contiguous: 1 and 3; 2, 4 and 5 are dropped unsettled.
    first
        .acknowledge(&[received.into_iter().next().expect("one")])
        .await
        .expect("acknowledged");
    drop(first);

    let mut second = subscribe(&subscriber, spec(&consumer, &[])).await;
    let again = receive_n(&mut second, 4).await;
    assert_carry(&again, &published[1..].iter().collect::<Vec<_>>());
    assert!(again.iter().all(|delivery| delivery.redelivered), "{again:?}");
    // Some of them, not the first: acknowledged one by one.
    second.acknowledge(&again[1..3]).await.expect("acknowledged");
    second.acknowledge(&again[..1]).await.expect("acknowledged");
    second.acknowledge(&again[3..]).await.expect("acknowledged");
    let twice = second
        .acknowledge(&again[3..])
        .await
        .expect_err("settled already");
    assert!(twice.is_transient(), "{twice}");
    drop(second);

    // What was acknowledged never comes back: the next delivery is a new event.
    let mut third = subscribe(&subscriber, spec(&consumer, &[])).await;
    let later = events(6, &[OTHER]);
    publisher.publish(&later).await.expect("published");
    let received = receive_n(&mut third, 1).await;
    assert_carry(&received, &[&later[0]]);
    assert!(!received[0].redelivered);
    third.acknowledge(&received).await.expect("acknowledged");
}

#[tokio::test]
async fn rabbitmq_rejected_messages_land_in_the_consumers_dead_letter_queue() {
    let (publisher, subscriber, _exchange) = rabbitmq().await;
    let consumer = unique("c");
    let other = unique("c");
    let mut subscription = subscribe(&subscriber, spec(&consumer, &[])).await;
    let mut neighbour = subscribe(&subscriber, spec(&other, &[])).await;
    let published = events(1, &[WANTED, OTHER, WANTED]);
    publisher.publish(&published).await.expect("published");
    let received = receive_n(&mut subscription, 3).await;
    subscription.reject(&received[1]).await.expect("rejected");
    subscription
        .acknowledge(&[received.into_iter().next().expect("one")])
        .await
        .expect("acknowledged");
    let neighbours = receive_n(&mut neighbour, 3).await;
    neighbour.acknowledge(&neighbours).await.expect("acknowledged");

    let rabbit = Rabbit::connect().await;
    let queue = RabbitMqSubscriber::dead_letter_queue(&consumer);
    let dead = rabbit.take_n(&queue, 1, DEADLINE).await;
    assert_eq!(dead[0].event().event_id, published[1].event_id);
    assert_eq!(dead[0].header(header::EVENT_TYPE), OTHER);
    assert!(rabbit.take(&queue).await.is_none(), "only the rejected one");
    let neighbours_dead = RabbitMqSubscriber::dead_letter_queue(&other);
    assert!(
        rabbit.take(&neighbours_dead).await.is_none(),
        "dead letters do not mix"
    );
    drop(subscription);

    // The third, not settled, comes back; the rejected one does not.
    let mut again = subscribe(&subscriber, spec(&consumer, &[])).await;
    let received = receive_n(&mut again, 1).await;
    assert_carry(&received, &[&published[2]]);
    again.acknowledge(&received).await.expect("acknowledged");
}

#[tokio::test]
async fn rabbitmq_counts_the_backlog() {
    let (publisher, subscriber, _exchange) = rabbitmq().await;
    let consumer = unique("c");
    let mut subscription = subscribe(
        &subscriber,
        SubscriptionSpec {
            prefetch: 1,
            ..spec(&consumer, &[WANTED])
        },
    )
    .await;
    assert_eq!(subscription.backlog().await.expect("backlog"), 0);
    let published = events(1, &[WANTED, OTHER, WANTED, WANTED]);
    publisher.publish(&published).await.expect("published");
    // One is handed to the client (the prefetch), two wait.
    backlog_reaches(&mut subscription, 2).await;
    let received = receive_n(&mut subscription, 1).await;
    assert_carry(&received, &[&published[0]]);
    subscription.acknowledge(&received).await.expect("acknowledged");
    backlog_reaches(&mut subscription, 1).await;
    // One at a time: the prefetch holds the next back until the last is acknowledged.
    for published in &published[2..] {
        let received = receive_n(&mut subscription, 1).await;
        assert_carry(&received, &[published]);
        subscription.acknowledge(&received).await.expect("acknowledged");
    }
    assert_eq!(subscription.backlog().await.expect("backlog"), 0);
}

#[tokio::test]
async fn rabbitmq_a_message_without_a_header_is_an_error_naming_the_event() {
    use lapin::options::BasicPublishOptions;
    use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

    let (publisher, subscriber, exchange) = rabbitmq().await;
    let consumer = unique("c");
    let mut subscription = subscribe(&subscriber, spec(&consumer, &[])).await;
    let broken = events(1, &[WANTED]);
    let message = Message::of(&broken[0]);
    let mut headers = FieldTable::default();
    for (name, value) in &message.headers {
        if *name != header::POSITION {
            headers.insert(
                ShortString::from(*name),
                AMQPValue::LongString(LongString::from(value.as_bytes())),
            );
        }
    }
    let rabbit = Rabbit::connect().await;
    rabbit
        .channel
        .basic_publish(
            &exchange,
            &message.topic,
            BasicPublishOptions::default(),
            message.body(),
            lapin::BasicProperties::default().with_headers(headers),
        )
        .await
        .expect("published");
    let good = events(2, &[WANTED]);
    publisher.publish(&good).await.expect("published");

    let received = receive_n(&mut subscription, 2).await;
    let error = received[0].event.as_ref().expect_err("no position header");
    assert_eq!(error.event_id, Some(broken[0].event_id.to_string()));
    let text = error.to_string();
    assert!(text.contains(&broken[0].event_id.to_string()), "{text}");
    assert!(text.contains(header::POSITION), "{text}");
    assert_carry(&received[1..], &[&good[0]]);
    subscription.reject(&received[0]).await.expect("rejected");
    subscription
        .acknowledge(&received[1..])
        .await
        .expect("acknowledged");
}

#[tokio::test]
async fn rabbitmq_refuses_a_queue_declared_otherwise_and_names_it_cannot_carry() {
    let (_publisher, subscriber, _exchange) = rabbitmq().await;
    // A queue of this name, declared before without the subscription's arguments.
    let rabbit = Rabbit::connect().await;
    let taken = unique("c");
    rabbit
        .channel
        .queue_declare(
            &taken,
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("declared");
    let error = subscribe_error(&subscriber, spec(&taken, &[])).await;
    assert!(matches!(error, SubscribeError::Refused { .. }), "{error:?}");
    assert!(!error.is_transient());
    let text = error.to_string();
    assert!(text.contains(&taken) && text.contains("RabbitMQ at"), "{text}");

    for name in ["", "amq.mine", &"x".repeat(250)] {
        let error = subscribe_error(&subscriber, spec(name, &[])).await;
        assert!(
            matches!(error, SubscribeError::Refused { .. }),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn rabbitmq_a_queue_deleted_under_a_subscription_makes_it_unavailable() {
    let (_publisher, subscriber, _exchange) = rabbitmq().await;
    let consumer = unique("c");
    let mut subscription = subscribe(&subscriber, spec(&consumer, &[])).await;
    let rabbit = Rabbit::connect().await;
    rabbit
        .channel
        .queue_delete(&consumer, lapin::options::QueueDeleteOptions::default())
        .await
        .expect("deleted");
    let error = tokio::time::timeout(DEADLINE, subscription.receive(10))
        .await
        .expect("an answer in time")
        .expect_err("the consumer is cancelled");
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("RabbitMQ at"), "{error}");
    let again = subscription.receive(10).await.expect_err("still broken");
    assert!(again.is_transient(), "{again}");
    let _ = rabbit
        .channel
        .queue_delete(
            &RabbitMqSubscriber::dead_letter_queue(&consumer),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await;
}

#[tokio::test]
async fn rabbitmq_unreachable_is_unavailable_naming_the_broker_without_credentials() {
    let subscriber =
        RabbitMqSubscriber::new("amqp://guest:guest@127.0.0.1:1/%2f").timeout(Duration::from_secs(2));
    let error = subscribe_error(&subscriber, spec("c", &[])).await;
    assert!(matches!(error, SubscribeError::Unavailable { .. }), "{error:?}");
    assert!(error.is_transient());
    let text = error.to_string();
    assert!(text.contains("RabbitMQ at 127.0.0.1:1"), "{text}");
    assert!(!text.contains("guest:guest"), "no credentials in errors: {text}");
}

/// Receives through `subscription`, each receive raced against a timer of a millisecond (as a
/// consumer's loop races it against its idle tick), acknowledging each batch, until `count`
/// have come.
async fn receive_impatiently<S: Subscription>(subscription: &mut S, count: usize) -> Vec<Delivery> {
    let started = std::time::Instant::now();
    let mut received = Vec::new();
    while received.len() < count {
        assert!(
            started.elapsed() < DEADLINE,
            "only {} of {count} deliveries within {DEADLINE:?}",
            received.len()
        );
        let Ok(batch) = tokio::time::timeout(Duration::from_millis(1), subscription.receive(7)).await else {
            continue;
        };
        let batch = batch.expect("receive");
        subscription.acknowledge(&batch).await.expect("acknowledged");
        received.extend(batch);
    }
    received
}

#[tokio::test]
async fn rabbitmq_a_receive_dropped_while_it_waits_loses_nothing() {
    let (publisher, subscriber, _exchange) = rabbitmq().await;
    let consumer = unique("c");
    let mut subscription = subscribe(&subscriber, spec(&consumer, &[WANTED, OTHER])).await;
    let types: Vec<&str> = [WANTED, THIRD, OTHER].into_iter().cycle().take(150).collect();
    let published = events(1, &types);
    let sending = async {
        for chunk in published.chunks(10) {
            publisher.publish(chunk).await.expect("published");
        }
    };
    let (received, ()) = tokio::join!(receive_impatiently(&mut subscription, 100), sending);
    let wanted: Vec<_> = published
        .iter()
        .filter(|event| event.event_type != THIRD)
        .collect();
    assert_carry(&received, &wanted);
}

// NATS JetStream.

/// A publisher and a subscriber on a stream and subjects of the test's own, the subjects' prefix
/// and the stream's name.
fn nats() -> (NatsPublisher, NatsSubscriber, String, String) {
    let stream = unique("S").to_uppercase();
    let prefix = unique("s");
    let publisher = NatsPublisher::new(nats_address())
        .stream(&stream)
        .subject_prefix(&prefix)
        .timeout(TIMEOUT);
    let subscriber = NatsSubscriber::new(nats_address())
        .stream(&stream)
        .subject_prefix(&prefix)
        .timeout(TIMEOUT);
    (publisher, subscriber, prefix, stream)
}

#[tokio::test]
async fn nats_delivers_the_subscribed_types_in_order_from_the_history() {
    let (publisher, subscriber, _prefix, _stream) = nats();
    assert!(subscriber.keeps_history());
    let published = events(1, &[WANTED, OTHER, WANTED, THIRD, WANTED, OTHER]);
    // Published before any consumer exists: the stream keeps it.
    publisher.publish(&published).await.expect("published");

    let consumer = unique("c");
    let mut one = subscribe(&subscriber, spec(&consumer, &[WANTED])).await;
    let received = receive_n(&mut one, 3).await;
    assert_carry(&received, &[&published[0], &published[2], &published[4]]);
    let sequences: Vec<_> = received.iter().map(|delivery| delivery.sequence).collect();
    assert_eq!(sequences, [1, 3, 5], "stream sequences");
    assert!(received.iter().all(|delivery| !delivery.redelivered));
    one.acknowledge(&received).await.expect("acknowledged");

    // Two types: filtered in the client.
    let two = unique("c");
    let mut both = subscribe(&subscriber, spec(&two, &[WANTED, OTHER])).await;
    let received = receive_n(&mut both, 5).await;
    assert_carry(
        &received,
        &[
            &published[0],
            &published[1],
            &published[2],
            &published[4],
            &published[5],
        ],
    );
    both.acknowledge(&received).await.expect("acknowledged");

    let every = unique("c");
    let mut all = subscribe(&subscriber, spec(&every, &[])).await;
    let received = receive_n(&mut all, 6).await;
    assert_carry(&received, &published.iter().collect::<Vec<_>>());
    all.acknowledge(&received).await.expect("acknowledged");

    // Nothing of the other types comes in between.
    let later = events(7, &[THIRD, OTHER, WANTED]);
    publisher.publish(&later).await.expect("published");
    let received = receive_n(&mut one, 1).await;
    assert_carry(&received, &[&later[2]]);
    assert_eq!(received[0].sequence, 9);
    let received = receive_n(&mut both, 2).await;
    assert_carry(&received, &[&later[1], &later[2]]);
}

#[tokio::test]
async fn nats_resumes_after_the_sequence_the_read_store_names() {
    let (publisher, subscriber, _prefix, _stream) = nats();
    let published = events(1, &[WANTED, OTHER, WANTED, OTHER, WANTED]);
    publisher.publish(&published).await.expect("published");
    let consumer = unique("c");

    // Not acknowledged, then dropped: everything comes again.
    let mut first = subscribe(&subscriber, spec(&consumer, &[])).await;
    let received = receive_n(&mut first, 5).await;
    assert_carry(&received, &published.iter().collect::<Vec<_>>());
    drop(first);
    let mut second = subscribe(&subscriber, spec(&consumer, &[])).await;
    let received = receive_n(&mut second, 5).await;
    assert_carry(&received, &published.iter().collect::<Vec<_>>());
    // The first two applied and acknowledged, the others dropped unsettled.
    second.acknowledge(&received[..2]).await.expect("acknowledged");
    drop(second);

    // Whatever the broker remembers, the read store says 2 were applied: from the third on, in
    // order (not the unacknowledged ones whenever their acknowledgement wait runs out).
    let after = |after_sequence| SubscriptionSpec {
        after_sequence,
        ..spec(&consumer, &[])
    };
    let mut third = subscribe(&subscriber, after(2)).await;
    let received = receive_n(&mut third, 3).await;
    assert_carry(&received, &published[2..].iter().collect::<Vec<_>>());
    assert_eq!(received[0].sequence, 3);
    third.acknowledge(&received).await.expect("acknowledged");
    drop(third);

    // The read store may be behind the broker (its commit lost): it is the one followed.
    let mut fourth = subscribe(&subscriber, after(4)).await;
    let received = receive_n(&mut fourth, 1).await;
    assert_carry(&received, &[&published[4]]);
    fourth.acknowledge(&received).await.expect("acknowledged");
    drop(fourth);

    // Everything acknowledged up to where the read store is: what comes next is new.
    let mut fifth = subscribe(&subscriber, after(5)).await;
    let later = events(6, &[OTHER]);
    publisher.publish(&later).await.expect("published");
    let received = receive_n(&mut fifth, 1).await;
    assert_carry(&received, &[&later[0]]);
    assert_eq!(received[0].sequence, 6);
    fifth.acknowledge(&received).await.expect("acknowledged");

    // A rejected message is terminated; the next one after it comes.
    let more = events(7, &[WANTED, WANTED]);
    publisher.publish(&more).await.expect("published");
    let received = receive_n(&mut fifth, 2).await;
    fifth.reject(&received[0]).await.expect("terminated");
    fifth.acknowledge(&received[1..]).await.expect("acknowledged");
    let twice = fifth.reject(&received[0]).await.expect_err("settled already");
    assert!(twice.is_transient());
}

#[tokio::test]
async fn nats_counts_the_backlog() {
    let (publisher, subscriber, _prefix, _stream) = nats();
    let published = events(1, &[WANTED, WANTED, WANTED, WANTED, WANTED]);
    publisher.publish(&published).await.expect("published");
    let consumer = unique("c");
    let mut subscription = subscribe(
        &subscriber,
        SubscriptionSpec {
            prefetch: 2,
            ..spec(&consumer, &[WANTED])
        },
    )
    .await;
    assert_eq!(subscription.backlog().await.expect("backlog"), 5);
    let received = receive_n(&mut subscription, 2).await;
    assert_carry(&received, &[&published[0], &published[1]]);
    backlog_reaches(&mut subscription, 3).await;
    subscription.acknowledge(&received).await.expect("acknowledged");
    let received = receive_n(&mut subscription, 3).await;
    assert_carry(&received, &published[2..].iter().collect::<Vec<_>>());
    subscription.acknowledge(&received).await.expect("acknowledged");
    assert_eq!(subscription.backlog().await.expect("backlog"), 0);
}

#[tokio::test]
async fn nats_a_message_without_a_header_is_an_error_naming_the_event() {
    let (publisher, subscriber, prefix, _stream) = nats();
    publisher.connect().await.expect("the stream");
    let broken = events(1, &[WANTED]);
    let message = Message::of(&broken[0]);
    let mut headers = async_nats::HeaderMap::new();
    for (name, value) in &message.headers {
        if *name != header::POSITION {
            headers.insert(*name, value.as_str());
        }
    }
    let client = async_nats::connect(nats_address()).await.expect("NATS answers");
    let jetstream = async_nats::jetstream::new(client);
    jetstream
        .publish_with_headers(
            format!("{prefix}.{}", message.topic),
            headers,
            message.body().to_vec().into(),
        )
        .await
        .expect("sent")
        .await
        .expect("stored");
    let good = events(2, &[WANTED]);
    publisher.publish(&good).await.expect("published");

    let consumer = unique("c");
    let mut subscription = subscribe(&subscriber, spec(&consumer, &[WANTED])).await;
    let received = receive_n(&mut subscription, 2).await;
    let error = received[0].event.as_ref().expect_err("no position header");
    assert_eq!(error.event_id, Some(broken[0].event_id.to_string()));
    let text = error.to_string();
    assert!(text.contains(&broken[0].event_id.to_string()), "{text}");
    assert_eq!(received[0].sequence, 1);
    assert_carry(&received[1..], &[&good[0]]);
    subscription.reject(&received[0]).await.expect("terminated");
    subscription
        .acknowledge(&received[1..])
        .await
        .expect("acknowledged");
}

#[tokio::test]
async fn nats_a_consumer_deleted_under_a_subscription_makes_it_unavailable() {
    let (publisher, subscriber, _prefix, stream) = nats();
    publisher.connect().await.expect("the stream");
    // Only letters, digits and `-`: the name at the server is the same.
    let consumer = unique("c").replace('_', "-");
    let mut subscription = subscribe(&subscriber, spec(&consumer, &[])).await;
    let client = async_nats::connect(nats_address()).await.expect("NATS answers");
    let jetstream = async_nats::jetstream::new(client);
    let receiving = tokio::spawn(async move {
        let received = subscription.receive(10).await;
        (subscription, received)
    });
    jetstream
        .get_stream(&stream)
        .await
        .expect("the stream")
        .delete_consumer(&consumer)
        .await
        .expect("deleted");
    let (mut subscription, received) = tokio::time::timeout(DEADLINE, receiving)
        .await
        .expect("an answer in time")
        .expect("the task");
    let error = received.expect_err("the consumer is gone");
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("NATS JetStream at"), "{error}");
    let again = subscription.receive(10).await.expect_err("still broken");
    assert!(again.is_transient(), "{again}");
}

#[tokio::test]
async fn nats_a_receive_dropped_while_it_waits_loses_nothing() {
    let (publisher, subscriber, _prefix, _stream) = nats();
    publisher.connect().await.expect("the stream");
    let consumer = unique("c");
    // Two types of three: filtered in the client, the others acknowledged as they are dropped.
    let mut subscription = subscribe(
        &subscriber,
        SubscriptionSpec {
            prefetch: 5,
            ..spec(&consumer, &[WANTED, OTHER])
        },
    )
    .await;
    let types: Vec<&str> = [WANTED, THIRD, THIRD, THIRD, OTHER]
        .into_iter()
        .cycle()
        .take(250)
        .collect();
    let published = events(1, &types);
    let sending = async {
        for chunk in published.chunks(10) {
            publisher.publish(chunk).await.expect("published");
        }
    };
    let (received, ()) = tokio::join!(receive_impatiently(&mut subscription, 100), sending);
    let wanted: Vec<_> = published
        .iter()
        .filter(|event| event.event_type != THIRD)
        .collect();
    assert_carry(&received, &wanted);
    assert!(received.iter().all(|delivery| !delivery.redelivered));
}

#[tokio::test]
async fn nats_escapes_names_it_cannot_carry_and_refuses_empty_or_long_ones() {
    let (publisher, subscriber, _prefix, stream) = nats();
    for name in ["", &"x".repeat(300), &".".repeat(90)] {
        let error = subscribe_error(&subscriber, spec(name, &[])).await;
        assert!(
            matches!(error, SubscribeError::Refused { .. }),
            "{name:?}: {error:?}"
        );
        assert!(!error.is_transient());
    }
    // A projection's dotted name (and any other) is escaped (`_XX`), so that no two collide.
    for (name, durable) in [
        ("shop.summaries", "shop_2Esummaries"),
        ("a b*>", "a_20b_2A_3E"),
        ("a_2E", "a_5F2E"),
    ] {
        let mut subscription = subscriber.subscribe(spec(name, &[])).await.expect("subscribe");
        // And it delivers (async-nats delivers nothing to a consumer whose name holds `%`).
        publisher
            .publish(&events(1, &["test.Named"]))
            .await
            .expect("publish");
        let received = tokio::time::timeout(DEADLINE, subscription.receive(1))
            .await
            .expect("a delivery in time")
            .expect("a delivery");
        assert_eq!(received.len(), 1);
        subscription.acknowledge(&received).await.expect("ack");
        drop(subscription);
        let client = async_nats::connect(nats_address()).await.expect("connect");
        let context = async_nats::jetstream::new(client);
        let js_stream = context.get_stream(&stream).await.expect("the stream");
        js_stream
            .consumer_info(durable)
            .await
            .unwrap_or_else(|error| panic!("no durable consumer `{durable}` for `{name}`: {error}"));
    }
}

#[tokio::test]
async fn nats_unreachable_is_unavailable_naming_the_broker() {
    let subscriber = NatsSubscriber::new("127.0.0.1:1").timeout(Duration::from_secs(2));
    let error = subscribe_error(&subscriber, spec("c", &[])).await;
    assert!(matches!(error, SubscribeError::Unavailable { .. }), "{error:?}");
    assert!(error.is_transient());
    let text = error.to_string();
    assert!(text.contains("NATS JetStream at 127.0.0.1:1"), "{text}");
}
