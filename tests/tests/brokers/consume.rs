//! Consumers against the real brokers: a read model in a separate read store, fed from a RabbitMQ
//! queue or a JetStream durable consumer, never reading the event table. Each event is applied
//! exactly once (a re-publish of everything is recognised), the view equals a replay, poison
//! messages get their policies, a new version rebuilds from JetStream's history (and cannot on
//! RabbitMQ), one consumer per name leads, and a broker away at start is a clear error, retried.

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::{
    BoxFuture, Consumer, ConsumerError, ConsumerHandle, NatsPublisher, NatsSubscriber, OnPoisonMessage,
    RabbitMqPublisher, RabbitMqSubscriber, RecordedEvent, Relay, RetryPolicy, RunnerState, Tenant,
};
use chronicle_tests::brokers::{nats_address, rabbitmq_url, unique, Rabbit};
use chronicle_tests::ledger::{assert_ledger_is_replay, ledger, Ledger};
use chronicle_tests::support;
use chronicle_tests::wait::{eventually, DEADLINE};
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

use crate::{bank, more_deposits, traffic};

fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

/// Waits until the consumer has subscribed (it has asked the broker for its backlog), so that a
/// RabbitMQ queue exists before anything is published to its exchange.
async fn subscribed<P: Projection>(handle: &ConsumerHandle<P>) {
    handle
        .wait_until_subscribed(DEADLINE)
        .await
        .expect("the consumer subscribes");
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy::new(2, Duration::from_millis(10))
}

#[tokio::test]
async fn a_consumer_over_rabbitmq_applies_each_event_once_even_when_all_is_published_again() {
    let exchange = unique("consume");
    let (store, read, bank) = bank().await;
    let remote = support::postgres_read_store_elsewhere().await;
    let name = leak(unique("shipping"));
    let subscriber = RabbitMqSubscriber::new(rabbitmq_url()).exchange(&exchange);
    let consumer = Consumer::new(subscriber, remote.clone(), Ledger::default())
        .name(name)
        .spawn();
    subscribed(&consumer).await;
    let publisher = || RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange);
    let relay = ProjectionRunner::new(
        store.clone(),
        read.clone(),
        Relay::new("to-rabbitmq", publisher()),
    )
    .spawn();

    let last = traffic(&bank, 3, 5).await;
    consumer
        .wait_for(&last, DEADLINE)
        .await
        .expect("the remote view shows the last command");
    let log = store.read_all(0, 1000).await.expect("log");
    assert_ledger_is_replay(&remote, &log).await;
    let status = consumer.status().await.expect("status");
    assert_eq!(status.position, last.position, "{status:?}");
    assert_eq!(status.applied, log.len() as u64);

    // A second relay publishes the whole log again: every message is recognised as applied.
    let again =
        ProjectionRunner::new(store.clone(), read, Relay::new("to-rabbitmq-again", publisher())).spawn();
    again
        .wait_for(last.position, DEADLINE)
        .await
        .expect("published again");
    eventually("every re-published message recognised", DEADLINE, || async {
        let status = consumer.status().await.expect("status");
        (status.duplicates == log.len() as u64).then_some(())
    })
    .await;
    assert_ledger_is_replay(&remote, &log).await;
    eventually("no lag once everything is applied", DEADLINE, || async {
        let status = consumer.status().await.expect("status");
        (status.backlog == Some(0) && status.lag.is_zero() && status.state == RunnerState::Live).then_some(())
    })
    .await;
    for handle in [relay, again] {
        handle.stop().await.into_result().expect("relay stops");
    }
    consumer.stop().await.into_result().expect("consumer stops");
}

#[tokio::test]
async fn a_consumer_over_jetstream_applies_each_event_once_even_when_all_is_published_again() {
    let stream = unique("CONSUME");
    let prefix = unique("consume");
    let (store, read, bank) = bank().await;
    let remote = support::postgres_read_store_elsewhere().await;
    // A short deduplication window, so that the second relay's re-publish reaches the stream.
    let window = Duration::from_millis(500);
    let publisher = || {
        NatsPublisher::new(nats_address())
            .stream(&stream)
            .subject_prefix(&prefix)
            .duplicate_window(window)
    };
    let relay =
        ProjectionRunner::new(store.clone(), read.clone(), Relay::new("to-nats", publisher())).spawn();
    let first = traffic(&bank, 3, 3).await;
    relay.wait_for(first.position, DEADLINE).await.expect("published");

    // Started after the first events were published: JetStream keeps them for it.
    let name = leak(unique("shipping"));
    let subscriber = NatsSubscriber::new(nats_address())
        .stream(&stream)
        .subject_prefix(&prefix);
    let consumer = Consumer::new(subscriber, remote.clone(), Ledger::default())
        .name(name)
        .spawn();
    let last = more_deposits(&bank, 3, 2).await;
    consumer.wait_for(&last, DEADLINE).await.expect("applied");
    let log = store.read_all(0, 1000).await.expect("log");
    assert_ledger_is_replay(&remote, &log).await;

    // Past the window, a relay of another name publishes everything again.
    tokio::time::sleep(window * 2).await;
    let again = ProjectionRunner::new(store.clone(), read, Relay::new("to-nats-again", publisher())).spawn();
    again
        .wait_for(last.position, DEADLINE)
        .await
        .expect("published again");
    eventually("every re-published message recognised", DEADLINE, || async {
        let status = consumer.status().await.expect("status");
        (status.duplicates == log.len() as u64 && status.backlog == Some(0)).then_some(())
    })
    .await;
    assert_ledger_is_replay(&remote, &log).await;
    for handle in [relay, again] {
        handle.stop().await.into_result().expect("relay stops");
    }
    consumer.stop().await.into_result().expect("consumer stops");
}

#[tokio::test]
async fn two_tenants_streams_with_one_id_are_each_applied_by_a_consumer() {
    let exchange = unique("tenants");
    let (store, read, bank) = bank().await;
    let remote = support::postgres_read_store_elsewhere().await;
    let name = leak(unique("tenants"));
    let subscriber = RabbitMqSubscriber::new(rabbitmq_url()).exchange(&exchange);
    let consumer = Consumer::new(subscriber, remote.clone(), Ledger::default())
        .name(name)
        .spawn();
    subscribed(&consumer).await;
    let relay = ProjectionRunner::new(
        store.clone(),
        read,
        Relay::new(
            "to-rabbitmq",
            RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange),
        ),
    )
    .spawn();

    // The same accounts and deposits in two tenants: the same stream ids and versions.
    let acme = bank.for_tenant(Tenant::new("acme").expect("tenant"));
    let globex = bank.for_tenant(Tenant::new("globex").expect("tenant"));
    let acme_last = traffic(&acme, 2, 3).await;
    let globex_last = traffic(&globex, 2, 3).await;
    assert_eq!(
        (&acme_last.stream_id, acme_last.stream_version),
        (&globex_last.stream_id, globex_last.stream_version)
    );
    assert_eq!(
        (acme_last.tenant.as_str(), globex_last.tenant.as_str()),
        ("acme", "globex")
    );
    for last in [&acme_last, &globex_last] {
        consumer
            .wait_for(last, DEADLINE)
            .await
            .expect("the remote view shows each tenant's last command");
    }
    let log = store.read_all(0, 1000).await.expect("log");
    assert_eq!(log.len(), 2 * (2 + 2 * 3), "both tenants' events are in the log");
    assert_ledger_is_replay(&remote, &log).await;
    let status = consumer.status().await.expect("status");
    assert_eq!(
        (status.applied, status.duplicates),
        (log.len() as u64, 0),
        "{status:?}"
    );
    relay.stop().await.into_result().expect("relay stops");
    consumer.stop().await.into_result().expect("consumer stops");
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_in_the_read_store_and_the_rest_applied() {
    let exchange = unique("poison");
    let (store, read, bank) = bank().await;
    let remote = support::postgres_read_store_elsewhere().await;
    let refused = bank
        .execute(bank::OpenAccount {
            account_id: "refused".into(),
            owner: "r".into(),
            overdraft_limit: 0,
        })
        .await
        .expect("open");
    let name = leak(unique("poison"));
    let subscriber = RabbitMqSubscriber::new(rabbitmq_url()).exchange(&exchange);
    let ledger_view = Ledger {
        refuse_stream: Some(refused.stream_id.clone()),
    };
    let consumer = Consumer::new(subscriber, remote.clone(), ledger_view)
        .name(name)
        .retry(quick_retries())
        .on_poison(OnPoisonMessage::DeadLetter)
        .spawn();
    subscribed(&consumer).await;
    let publisher = RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange);
    let relay = ProjectionRunner::new(store.clone(), read, Relay::new("poison", publisher)).spawn();
    let poison = bank
        .execute(bank::Deposit {
            account_id: "refused".into(),
            amount: 7,
        })
        .await
        .expect("deposit");
    let last = traffic(&bank, 2, 2).await;
    consumer
        .wait_for(&last, DEADLINE)
        .await
        .expect("the rest applied");
    consumer
        .wait_for(&poison, DEADLINE)
        .await
        .expect("a dead-lettered event counts as consumed");
    let letters = consumer.dead_letters().await.expect("dead letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].stream_id, poison.stream_id);
    assert_eq!(Some(letters[0].position), poison.position);
    assert!(
        letters[0].error.contains("refusing deposits"),
        "{}",
        letters[0].error
    );
    let view = ledger(&remote).await;
    let log = store.read_all(0, 1000).await.expect("log");
    assert_eq!(
        view.len(),
        log.len() - 1,
        "everything but the poison message applied"
    );
    assert_eq!(consumer.status().await.expect("status").poisoned, 1);
    relay.stop().await.into_result().expect("relay stops");
    consumer.stop().await.into_result().expect("consumer stops");
}

#[tokio::test]
async fn a_consumer_stopped_by_a_poison_message_resumes_with_it_once_fixed() {
    let stream = unique("STOP");
    let prefix = unique("stop");
    let (store, read, bank) = bank().await;
    let remote = support::postgres_read_store_elsewhere().await;
    let opened = bank
        .execute(bank::OpenAccount {
            account_id: "fragile".into(),
            owner: "f".into(),
            overdraft_limit: 0,
        })
        .await
        .expect("open");
    let poison = bank
        .execute(bank::Deposit {
            account_id: "fragile".into(),
            amount: 3,
        })
        .await
        .expect("deposit");
    let last = traffic(&bank, 2, 1).await;
    let publisher = NatsPublisher::new(nats_address())
        .stream(&stream)
        .subject_prefix(&prefix);
    let relay = ProjectionRunner::new(store.clone(), read, Relay::new("stop", publisher)).spawn();
    relay.wait_for(last.position, DEADLINE).await.expect("published");

    let name = leak(unique("stop"));
    let subscriber = || {
        NatsSubscriber::new(nats_address())
            .stream(&stream)
            .subject_prefix(&prefix)
    };
    let failing = Consumer::new(
        subscriber(),
        remote.clone(),
        Ledger {
            refuse_stream: Some(opened.stream_id.clone()),
        },
    )
    .name(name)
    .retry(quick_retries())
    .spawn();
    let error = tokio::time::timeout(DEADLINE, failing.join())
        .await
        .expect("the consumer stops by itself")
        .expect_err("on the poison message");
    let text = error.to_string();
    assert!(matches!(error, ConsumerError::Poison(_)), "{error:?}");
    assert!(
        text.contains(&poison.stream_id)
            && text.contains("bank.MoneyDeposited")
            && text.contains("failed 2 times"),
        "{text}"
    );

    let fixed = Consumer::new(subscriber(), remote.clone(), Ledger::default())
        .name(name)
        .spawn();
    fixed.wait_for(&last, DEADLINE).await.expect("resumed");
    let log = store.read_all(0, 1000).await.expect("log");
    assert_ledger_is_replay(&remote, &log).await;
    relay.stop().await.into_result().expect("relay stops");
    fixed.stop().await.into_result().expect("consumer stops");
}

/// Publishes a message to `exchange` that is not a Chronicle event (only an event id and type),
/// routed as a deposit.
async fn publish_broken(rabbit: &Rabbit, exchange: &str, event_id: &str) {
    let mut headers = FieldTable::default();
    headers.insert(
        "chronicle-event-id".into(),
        AMQPValue::LongString(event_id.as_bytes().to_vec().into()),
    );
    headers.insert(
        "chronicle-event-type".into(),
        AMQPValue::LongString(b"bank.MoneyDeposited".to_vec().into()),
    );
    rabbit
        .channel
        .basic_publish(
            exchange,
            "bank%2EAccount.bank%2EMoneyDeposited",
            BasicPublishOptions::default(),
            b"{not json",
            BasicProperties::default().with_headers(headers),
        )
        .await
        .expect("publish")
        .await
        .expect("confirmed");
}

#[tokio::test]
async fn a_message_that_is_not_an_event_is_named_and_goes_to_the_dead_letter_queue() {
    let exchange = unique("broken");
    let (store, read, bank) = bank().await;
    let remote = support::postgres_read_store_elsewhere().await;
    let rabbit = Rabbit::connect().await;

    // Stop: the error names the message.
    let name = leak(unique("broken"));
    let subscriber = || RabbitMqSubscriber::new(rabbitmq_url()).exchange(&exchange);
    let stopping = Consumer::new(subscriber(), remote.clone(), Ledger::default())
        .name(name)
        .spawn();
    subscribed(&stopping).await;
    publish_broken(&rabbit, &exchange, "not-an-id").await;
    let error = tokio::time::timeout(DEADLINE, stopping.join())
        .await
        .expect("the consumer stops by itself")
        .expect_err("on the broken message");
    let text = error.to_string();
    assert!(
        text.contains("not-an-id") && text.contains("bank.MoneyDeposited"),
        "the error names the message: {text}"
    );

    // Reject: it goes to the queue's dead-letter queue, and what follows is applied.
    let rejecting = Consumer::new(subscriber(), remote.clone(), Ledger::default())
        .name(name)
        .on_poison(OnPoisonMessage::Reject)
        .spawn();
    let publisher = RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange);
    let relay = ProjectionRunner::new(store.clone(), read, Relay::new("broken", publisher)).spawn();
    let last = traffic(&bank, 1, 2).await;
    rejecting.wait_for(&last, DEADLINE).await.expect("applied");
    let dead_letters = format!("{name}.dead-letters");
    let dead = eventually("the broken message in the dead-letter queue", DEADLINE, || {
        rabbit.take(&dead_letters)
    })
    .await;
    assert_eq!(dead.headers["chronicle-event-id"], "not-an-id");
    assert_eq!(rejecting.status().await.expect("status").poisoned, 1);
    relay.stop().await.into_result().expect("relay stops");
    rejecting.stop().await.into_result().expect("consumer stops");
}

/// The ledger at version 2: what a changed read model looks like to a consumer.
struct LedgerV2(Ledger);

impl Projection for LedgerV2 {
    const NAME: &'static str = Ledger::NAME;
    const VERSION: u32 = 2;
    const EVENT_TYPES: &'static [&'static str] = Ledger::EVENT_TYPES;
    const HAS_RESET: bool = true;
    type Store = PostgresReadStore;

    fn apply<'a>(
        &'a self,
        event: &'a RecordedEvent,
        connection: &'a mut chronicle::sqlx::PgConnection,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Projection::apply(&self.0, event, connection)
    }

    fn reset<'a>(
        &'a self,
        connection: &'a mut chronicle::sqlx::PgConnection,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Projection::reset(&self.0, connection)
    }
}

#[tokio::test]
async fn a_new_version_rebuilds_from_jetstream_history_and_cannot_from_a_rabbitmq_queue() {
    let (store, read, bank) = bank().await;
    let last = traffic(&bank, 2, 3).await;
    let log = store.read_all(0, 1000).await.expect("log");

    // JetStream: version 2 starts over from the stream's first message.
    let stream = unique("REBUILD");
    let prefix = unique("rebuild");
    let remote = support::postgres_read_store_elsewhere().await;
    let publisher = NatsPublisher::new(nats_address())
        .stream(&stream)
        .subject_prefix(&prefix);
    let relay = ProjectionRunner::new(store.clone(), read.clone(), Relay::new("rebuild", publisher)).spawn();
    let name = leak(unique("rebuild"));
    let subscriber = || {
        NatsSubscriber::new(nats_address())
            .stream(&stream)
            .subject_prefix(&prefix)
    };
    let v1 = Consumer::new(subscriber(), remote.clone(), Ledger::default())
        .name(name)
        .spawn();
    v1.wait_for(&last, DEADLINE).await.expect("v1 applied");
    v1.stop().await.into_result().expect("v1 stops");
    let v2 = Consumer::new(subscriber(), remote.clone(), LedgerV2(Ledger::default()))
        .name(name)
        .spawn();
    eventually("version 2 rebuilt", DEADLINE, || async {
        let status = v2.status().await.expect("status");
        (status.stored_version == Some(2) && status.applied == log.len() as u64).then_some(())
    })
    .await;
    assert_ledger_is_replay(&remote, &log).await;
    v2.stop().await.into_result().expect("v2 stops");
    relay.stop().await.into_result().expect("relay stops");

    // RabbitMQ: the queue holds only what was not consumed, so version 2 refuses to start.
    let exchange = unique("rebuild");
    let remote = support::postgres_read_store_elsewhere().await;
    let name = leak(unique("rebuild"));
    let subscriber = || RabbitMqSubscriber::new(rabbitmq_url()).exchange(&exchange);
    let v1 = Consumer::new(subscriber(), remote.clone(), Ledger::default())
        .name(name)
        .spawn();
    subscribed(&v1).await;
    v1.stop().await.into_result().expect("v1 stops");
    let v2 = Consumer::new(subscriber(), remote, LedgerV2(Ledger::default()))
        .name(name)
        .spawn();
    let error = tokio::time::timeout(DEADLINE, v2.join())
        .await
        .expect("v2 ends by itself")
        .expect_err("v2 cannot rebuild");
    assert!(
        matches!(
            error,
            ConsumerError::CannotRebuild {
                stored: 1,
                current: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("keeps no history"), "{error}");
}

#[tokio::test]
async fn one_consumer_of_a_name_leads_and_a_standby_takes_over() {
    let exchange = unique("standby");
    let (store, read, bank) = bank().await;
    let remote = support::postgres_read_store_elsewhere().await;
    let name = leak(unique("standby"));
    let subscriber = || RabbitMqSubscriber::new(rabbitmq_url()).exchange(&exchange);
    let first = Consumer::new(subscriber(), remote.clone(), Ledger::default())
        .name(name)
        .spawn();
    subscribed(&first).await;
    let second = Consumer::new(subscriber(), remote.clone(), Ledger::default())
        .name(name)
        .spawn();
    eventually("the second to stand by", DEADLINE, || async {
        let status = second.status().await.expect("status");
        (status.state == RunnerState::Standby).then_some(())
    })
    .await;
    assert!(first.is_leader() && !second.is_leader());
    let publisher = RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange);
    let relay = ProjectionRunner::new(store.clone(), read, Relay::new("standby", publisher)).spawn();
    let before = traffic(&bank, 2, 2).await;
    first
        .wait_for(&before, DEADLINE)
        .await
        .expect("the leader applied");
    first.stop().await.into_result().expect("the leader stops");
    let after = bank
        .execute(bank::Deposit {
            account_id: "acc-0".into(),
            amount: 9,
        })
        .await
        .expect("deposit");
    second
        .wait_for(&after, DEADLINE)
        .await
        .expect("the standby took over");
    assert!(second.is_leader());
    let log = store.read_all(0, 1000).await.expect("log");
    assert_ledger_is_replay(&remote, &log).await;
    relay.stop().await.into_result().expect("relay stops");
    second.stop().await.into_result().expect("consumer stops");
}

#[tokio::test]
async fn a_broker_unreachable_at_start_is_a_clear_error_retried_without_end() {
    for (subscriber_error, handle) in [
        (
            "RabbitMQ at 127.0.0.1:1",
            Consumer::new(
                RabbitMqSubscriber::new("amqp://guest:guest@127.0.0.1:1/%2f").timeout(Duration::from_secs(2)),
                support::postgres_read_store_elsewhere().await,
                Ledger::default(),
            )
            .name(leak(unique("away")))
            .spawn(),
        ),
        (
            "127.0.0.1:1",
            Consumer::new(
                NatsSubscriber::new("127.0.0.1:1").timeout(Duration::from_secs(2)),
                support::postgres_read_store_elsewhere().await,
                Ledger::default(),
            )
            .name(leak(unique("away")))
            .spawn(),
        ),
    ] {
        let error = eventually("the consumer to report the broker away", DEADLINE, || async {
            handle.status().await.expect("status").last_error
        })
        .await;
        assert!(
            error.contains(subscriber_error) && error.contains("unavailable"),
            "{error}"
        );
        let error = handle
            .wait_until_subscribed(Duration::from_millis(200))
            .await
            .expect_err("no subscription while the broker is away");
        assert!(
            matches!(error, ConsumerError::NotSubscribed { .. })
                && error.to_string().contains(subscriber_error),
            "{error}"
        );
        assert!(!handle.is_subscribed());
        // A broker away does not end the consumer: it keeps trying, and stops cleanly when asked.
        assert!(!handle.is_finished(), "a broker away ended the consumer");
        handle.stop().await.into_result().expect("stops cleanly");
    }
}
