//! The book's relays (other services chapter).

// ANCHOR: relay
use std::time::Duration;

use bank::OpenAccount;
use chronicle::prelude::*;
use chronicle::{NatsPublisher, RabbitMqPublisher, Relay};

/// Publishes the bank's events to RabbitMQ at `amqp_uri` and to NATS JetStream at
/// `nats_address` while it opens an account; returns the positions each relay has published
/// up to.
pub async fn publish_the_bank(
    store: PostgresStore,
    amqp_uri: &str,
    nats_address: &str,
) -> Result<(Option<u64>, Option<u64>), Box<dyn std::error::Error>> {
    // A relay's checkpoint lives in a read store: here beside the events.
    let checkpoints = PostgresReadStore::beside(&store);
    checkpoints.migrate().await?;

    // Persistent messages to the durable topic exchange `bank.events`, routing key
    // `<aggregate>.<event type>`; `connect` fails at once if the broker cannot be reached
    // (without it, the relay connects on its first batch and retries until the broker answers).
    let rabbitmq = RabbitMqPublisher::new(amqp_uri).exchange("bank.events");
    rabbitmq.connect().await?;
    let to_rabbitmq = Relay::new("bank-to-rabbitmq", rabbitmq).aggregates(["bank.Account"]);
    let rabbitmq_relay = ProjectionRunner::new(store.clone(), checkpoints.clone(), to_rabbitmq).spawn();

    // The JetStream stream `BANK` (created if missing) on subjects `bank.<aggregate>.<type>`.
    let nats = NatsPublisher::new(nats_address)
        .stream("BANK")
        .subject_prefix("bank");
    let to_nats = Relay::new("bank-to-nats", nats).event_types(["bank.AccountOpened", "bank.MoneyDeposited"]);
    let nats_relay = ProjectionRunner::new(store.clone(), checkpoints, to_nats).spawn();

    let bank = Chronicle::new(store);
    let receipt = bank
        .execute(OpenAccount {
            account_id: "r-1".into(),
            owner: "Grace".into(),
            overdraft_limit: 0,
        })
        .await?;
    // Read-your-writes for a relay: returns once the broker confirmed the command's events.
    rabbitmq_relay
        .wait_for(receipt.position, Duration::from_secs(10))
        .await?;
    nats_relay
        .wait_for(receipt.position, Duration::from_secs(10))
        .await?;

    let published = (
        rabbitmq_relay.status().await?.position,
        nats_relay.status().await?.position,
    );
    rabbitmq_relay.stop().await.into_result()?;
    nats_relay.stop().await.into_result()?;
    Ok(published)
}
// ANCHOR_END: relay

#[tokio::test]
async fn the_bank_is_published_to_both_brokers() {
    use chronicle_tests::brokers::{nats_address, rabbitmq_url};

    let store = chronicle_tests::support::postgres_store().await;
    let (to_rabbitmq, to_nats) = publish_the_bank(store.clone(), &rabbitmq_url(), &nats_address())
        .await
        .unwrap();
    let opened = store.read_all(0, 10).await.unwrap();
    assert_eq!(opened.len(), 1);
    assert_eq!(to_rabbitmq, Some(opened[0].position));
    assert_eq!(to_nats, Some(opened[0].position));
}
