//! The shipping service of the integration example, and the one command that runs it beside the
//! orders service: `cargo run -p shipping -- rabbitmq` (or `-- nats`).
//!
//! It starts the orders service (this executable with `orders-service`, a separate process
//! with the event store: see `orders_service.rs`),
//! then builds its own view from the broker alone, into a SQLite file of its own
//! (`chronicle-shipping-<broker>.db`), and prints what happened: for each of the orders
//! service's commands, the shipment as this service sees it once its view has applied it.

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use chronicle::prelude::*;
use chronicle::{Consumer, ConsumerHandle, OnPoisonMessage, Subscriber};
use shipping::broker::{self, Broker};
use shipping::{ShipmentOf, Shipments, ToPack};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: shipping rabbitmq|nats";
    if let [role, name] = args.as_slice() {
        if role == "orders-service" {
            return shipping::orders_service::run(Broker::parse(name).ok_or(usage)?).await;
        }
    }
    let broker = args.first().and_then(|name| Broker::parse(name)).ok_or(usage)?;
    let views = SqliteReadStore::open(&format!("chronicle-shipping-{}.db", broker.name())).await?;
    views.migrate().await?;
    match broker {
        Broker::RabbitMq => run(broker, broker::rabbitmq_subscriber(), views).await,
        Broker::Nats => run(broker, broker::nats_subscriber(), views).await,
    }
}

// ANCHOR: consumer
async fn run<B: Subscriber>(
    broker: Broker,
    subscriber: B,
    views: SqliteReadStore,
) -> Result<(), Box<dyn Error>> {
    let consumer = Consumer::new(subscriber, views, Shipments)
        .on_poison(OnPoisonMessage::DeadLetter)
        .spawn();
    // Subscribed before the orders service publishes: a RabbitMQ queue receives only what is
    // published after it exists.
    consumer.wait_until_subscribed(Duration::from_secs(30)).await?;
    println!("[shipping] subscribed to {}", consumer.status().await?.broker);
    follow_orders_service(broker, &consumer).await?;

    let status = consumer.status().await?;
    println!(
        "[shipping] applied {} events ({} recognised as already applied); lag {:?}, {} waiting at the broker",
        status.applied,
        status.duplicates,
        status.lag,
        status.backlog.unwrap_or(0)
    );
    println!(
        "[shipping] items waiting to be packed: {}",
        consumer.query(&ToPack).await?
    );
    consumer.stop().await.into_result()?;
    Ok(())
}
// ANCHOR_END: consumer

/// Starts the orders service, shows what it prints, and for each receipt it prints waits until
/// this service's view includes that command (read-your-writes across services).
async fn follow_orders_service(
    broker: Broker,
    consumer: &ConsumerHandle<Shipments>,
) -> Result<(), Box<dyn Error>> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["orders-service", broker.name()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start the orders service: {error}"))?;
    let stdout = child.stdout.take().ok_or("the orders service's output")?;
    let (lines, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = receiver.recv().await {
        let Some(receipt) = line.strip_prefix("receipt ") else {
            println!("[orders]   {line}");
            continue;
        };
        let receipt = parse_receipt(receipt).ok_or_else(|| format!("malformed receipt line: {line}"))?;
        consumer.wait_for(&receipt, Duration::from_secs(30)).await?;
        let order_id = receipt
            .stream_id
            .split_once('-')
            .map_or("", |(_, id)| id)
            .to_owned();
        match consumer.query(&ShipmentOf { order_id }).await? {
            Some(shipment) => println!(
                "[shipping] view has {} up to version {} at least: {} for {}, {} item(s)",
                shipment.order_id,
                receipt.stream_version,
                shipment
                    .carrier
                    .as_deref()
                    .map_or("to pack".to_owned(), |c| format!("shipped with {c}")),
                shipment.customer,
                shipment.items
            ),
            None => println!("[shipping] {} is not in the view", receipt.stream_id),
        }
    }
    let exit = tokio::task::spawn_blocking(move || child.wait()).await??;
    if !exit.success() {
        return Err(format!("the orders service failed: {exit}").into());
    }
    Ok(())
}

/// `<stream> <version> <position>`, as the orders service prints it.
fn parse_receipt(text: &str) -> Option<Receipt> {
    let mut parts = text.rsplitn(3, ' ');
    let position = parts.next()?.parse().ok()?;
    let stream_version = parts.next()?.parse().ok()?;
    let stream_id = parts.next()?.to_owned();
    Some(Receipt {
        // The orders service writes to no tenant.
        tenant: String::new(),
        stream_id,
        stream_version,
        position: Some(position),
    })
}
