//! The orders service of the integration example: takes orders into its event store and
//! publishes every event to a broker with a relay. It knows nothing of who consumes them.
//!
//! It runs as a process of its own (`shipping orders-service rabbitmq|nats`, which the shipping
//! service starts: one executable, so that one cargo command builds both). Events go to an
//! embedded SQLite file (`chronicle-orders-service.db`), or to Postgres when `DATABASE_URL` is
//! set. For each command it prints a line for people and a `receipt <stream> <version>
//! <position>` line that the shipping service reads to wait for its own view.

use std::error::Error;
use std::time::Duration;

use chronicle::prelude::*;
use chronicle::{Projection, ProjectionHandle, Relay};
use orders::domain::{AddItem, CreateOrder, ShipOrder};

use crate::broker::{self, Broker};

/// Runs the orders service over `broker` until what it did is published.
pub async fn run(broker: Broker) -> Result<(), Box<dyn Error>> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let events = PostgresStore::connect(&url).await?;
            events.migrate().await?;
            let checkpoints = PostgresReadStore::beside(&events);
            checkpoints.migrate().await?;
            serve(broker, events, checkpoints).await
        }
        Err(_) => {
            let events = SqliteStore::open("chronicle-orders-service.db").await?;
            events.migrate().await?;
            let checkpoints = SqliteReadStore::open("chronicle-orders-service-relay.db").await?;
            checkpoints.migrate().await?;
            serve(broker, events, checkpoints).await
        }
    }
}

// ANCHOR: relay
/// Runs the relay for `broker` while taking a few orders, until everything is published.
async fn serve<S: EventSource, R: ReadStore>(
    broker: Broker,
    events: S,
    checkpoints: R,
) -> Result<(), Box<dyn Error>> {
    match broker {
        Broker::RabbitMq => {
            let relay = Relay::new("shop-to-rabbitmq", broker::rabbitmq_publisher());
            take_orders(
                ProjectionRunner::new(events.clone(), checkpoints, relay).spawn(),
                events,
            )
            .await
        }
        Broker::Nats => {
            let relay = Relay::new("shop-to-nats", broker::nats_publisher());
            take_orders(
                ProjectionRunner::new(events.clone(), checkpoints, relay).spawn(),
                events,
            )
            .await
        }
    }
}
// ANCHOR_END: relay

async fn take_orders<P: Projection, S: EventSource>(
    relay: ProjectionHandle<P, S>,
    events: S,
) -> Result<(), Box<dyn Error>> {
    let shop = Chronicle::new(events);
    let run = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let mut last = None;
    for (n, customer) in ["Ada", "Grace", "Edsger"].into_iter().enumerate() {
        let order_id = format!("order-{run}-{n}");
        let receipt = shop
            .execute(CreateOrder {
                order_id: order_id.clone(),
                customer: customer.into(),
            })
            .await?;
        report(&format!("{customer} opened {order_id}"), &receipt);
        let receipt = shop
            .execute(AddItem {
                order_id: order_id.clone(),
                sku: "book".into(),
                quantity: u32::try_from(n).unwrap_or(0) + 1,
                unit_price_cents: 1_500,
            })
            .await?;
        report(&format!("{order_id}: {} book(s) added", n + 1), &receipt);
        if n > 0 {
            let receipt = shop
                .execute(ShipOrder {
                    order_id: order_id.clone(),
                    carrier: "DHL".into(),
                })
                .await?;
            report(&format!("{order_id} handed to DHL"), &receipt);
        }
        last = Some(receipt);
    }
    // Published and confirmed by the broker before this service says it is done.
    if let Some(receipt) = last {
        relay.wait_for(receipt.position, Duration::from_secs(30)).await?;
    }
    let status = relay.status().await?;
    println!(
        "relay `{}` published up to position {:?} of {:?}",
        status.projection, status.position, status.head_position
    );
    relay.stop().await.into_result()?;
    Ok(())
}

fn report(what: &str, receipt: &Receipt) {
    println!("{what} (position {:?})", receipt.position);
    if let Some(position) = receipt.position {
        println!(
            "receipt {} {} {position}",
            receipt.stream_id, receipt.stream_version
        );
    }
}
