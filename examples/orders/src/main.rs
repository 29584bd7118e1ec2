//! The order example: commands on the write side, a denormalized order summary on the read side
//! in a physically separate store (level 2), and queries that choose their consistency.
//!
//! Events go to an embedded SQLite file (`chronicle-orders.db`), or to Postgres when
//! `DATABASE_URL` is set; the summaries live in another database: the SQLite file
//! `chronicle-orders-read.db`, or the one `READ_DATABASE_URL` names (`postgres://...`,
//! `mysql://...` for MariaDB, `sqlite:...`), with the same projection code on each.

use std::error::Error;
use std::time::Duration;

use chronicle::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let views = summaries().await?;
    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let events = PostgresStore::connect(&url).await?;
            events.migrate().await?;
            println!("events: Postgres; order summaries: {:?}", views.engine());
            run(events, views).await
        }
        Err(_) => {
            let events = SqliteStore::open("chronicle-orders.db").await?;
            events.migrate().await?;
            println!(
                "events: SQLite file chronicle-orders.db; order summaries: {:?}",
                views.engine()
            );
            run(events, views).await
        }
    }
}

// ANCHOR: level2
/// The summaries live in a store of their own, whatever holds the events: level 2. Which engine
/// is the operator's choice, made by a URL; the projection is the same on each.
async fn summaries() -> Result<SqlReadStore, Box<dyn std::error::Error>> {
    let url = std::env::var("READ_DATABASE_URL").unwrap_or_else(|_| "sqlite:chronicle-orders-read.db".into());
    let views = SqlReadStore::connect(&url).await?;
    views.migrate().await?; // chronicle_checkpoints, chronicle_dead_letters, and the rest
    Ok(views)
}
// ANCHOR_END: level2

// ANCHOR: run
use orders::domain::{AddItem, CreateOrder, ShipOrder};
use orders::views::{OpenOrders, OrderSummaries, OrderSummary};

async fn run<S: EventSource>(events: S, views: SqlReadStore) -> Result<(), Box<dyn std::error::Error>> {
    let shop = Chronicle::new(events.clone());
    let read_side = ReadSide::new(events, views);
    // The runner catches up from its checkpoint, then follows new events as they are appended.
    let runner = read_side.runner(OrderSummaries).spawn();
    // A new store's table is made by the projection's reset, on its first build: wait for it.
    runner.wait_until_caught_up(Duration::from_secs(30)).await?;

    let order_id = format!("order-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    shop.execute(CreateOrder {
        order_id: order_id.clone(),
        customer: "Grace".into(),
    })
    .await?;
    shop.execute(AddItem {
        order_id: order_id.clone(),
        sku: "book".into(),
        quantity: 2,
        unit_price_cents: 1_500,
    })
    .await?;
    let receipt = shop
        .execute(AddItem {
            order_id: order_id.clone(),
            sku: "pen".into(),
            quantity: 3,
            unit_price_cents: 200,
        })
        .await?;

    // Fast and maybe stale: whatever the read model holds right now.
    let now = read_side
        .query(
            &OrderSummaries,
            &OrderSummary {
                order_id: order_id.clone(),
            },
        )
        .await?;
    println!("right after the command (may be stale): {now:?}");

    // Consistent with my write: wait until the summary includes the receipt's event.
    let query = OrderSummary {
        order_id: order_id.clone(),
    };
    let summary = read_side
        .query_consistent(&OrderSummaries, &query, &receipt, Duration::from_secs(5))
        .await?;
    println!("after waiting for my write: {summary:?}");

    let receipt = shop
        .execute(ShipOrder {
            order_id: order_id.clone(),
            carrier: "DHL".into(),
        })
        .await?;
    read_side
        .wait_for::<OrderSummaries>(receipt.position, Duration::from_secs(5))
        .await?;
    let open = read_side.query(&OrderSummaries, &OpenOrders).await?;
    println!("open orders: {} (order {order_id} has shipped)", open.len());

    let status = runner.status().await?;
    println!(
        "projection {}: lag {} events / {:?}, read up to position {:?}, newest event at position {:?}",
        status.projection, status.lag_events, status.lag, status.position, status.head_position
    );
    runner.stop().await.into_result()?;
    Ok(())
}
// ANCHOR_END: run
