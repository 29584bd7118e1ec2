//! The reference chapter's program: every accepted form of every macro, once.

// ANCHOR: all
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use serde::{Deserialize, Serialize};

// ANCHOR: events
// A pinned name and a version: the usual form.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "shop.OrderPlaced", version = 2, upcast_from = OrderPlacedV1)]
pub struct OrderPlaced {
    pub order_id: String,
    pub customer: String,
}

// The shape stored before version 2, read through `From`.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "shop.OrderPlaced", version = 1)]
pub struct OrderPlacedV1 {
    pub order_id: String,
}

impl From<OrderPlacedV1> for OrderPlaced {
    fn from(v1: OrderPlacedV1) -> Self {
        Self {
            order_id: v1.order_id,
            customer: "unknown".into(),
        }
    }
}

// No `#[event(...)]`: stored as "ItemAdded", version 1.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct ItemAdded {
    pub sku: String,
}

// A unit struct.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "shop.OrderShipped")]
pub struct OrderShipped;
// ANCHOR_END: events

// ANCHOR: commands
// Starts its aggregate (`creates`): decided on the empty state without reading the stream.
#[derive(Command, Debug, Clone)]
#[command(aggregate = Order, creates)]
pub struct PlaceOrder {
    #[id]
    pub order_id: String,
    pub customer: String,
    pub items: Vec<String>,
}

// A tuple struct; handled by reference, so it need not be `Clone`.
#[derive(Command, Debug)]
#[command(aggregate = Order)]
pub struct Ship(#[id] pub String);

#[derive(Command, Debug, Clone)]
#[command(aggregate = Order)]
pub struct Touch {
    #[id]
    pub order_id: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Order)]
pub struct ShipIfPlaced {
    #[id]
    pub order_id: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Order)]
pub struct AddItems {
    #[id]
    pub order_id: String,
    pub skus: Vec<String>,
}
// ANCHOR_END: commands

// ANCHOR: aggregate
#[derive(Debug, thiserror::Error)]
#[error("the order cannot do that now")]
pub struct OrderError;

/// The services: what handlers consult besides the state.
pub struct Warehouse {
    pub open: bool,
}

#[derive(Default, Clone, Debug)]
pub struct Order {
    placed: bool,
    items: usize,
    shipped: bool,
}

#[aggregate(name = "shop.Order", event = OrderEvent, services = Warehouse)]
impl Order {
    // The command by value; a tuple: both events are recorded, in order.
    #[handle]
    fn place(&self, command: PlaceOrder) -> Result<(OrderPlaced, ItemAdded), OrderError> {
        if self.placed {
            return Err(OrderError);
        }
        let first = command.items.first().cloned().unwrap_or_default();
        let placed = OrderPlaced {
            order_id: command.order_id,
            customer: command.customer,
        };
        Ok((placed, ItemAdded { sku: first }))
    }

    // The command by reference, and the services; one event.
    #[handle]
    fn ship(&self, _command: &Ship, warehouse: &Warehouse) -> Result<OrderShipped, OrderError> {
        if !self.placed || self.shipped || !warehouse.open {
            return Err(OrderError);
        }
        Ok(OrderShipped)
    }

    // Nothing recorded.
    #[handle]
    fn touch(&self, _command: Touch) -> Result<(), std::convert::Infallible> {
        Ok(())
    }

    // An event or none.
    #[handle]
    fn ship_if_placed(&self, _command: &ShipIfPlaced) -> Result<Option<OrderShipped>, OrderError> {
        Ok((self.placed && !self.shipped).then_some(OrderShipped))
    }

    // Any number of one event type; `Vec<OrderEvent>` would mix event types.
    #[handle]
    fn add_items(&self, command: &AddItems) -> Result<Vec<ItemAdded>, OrderError> {
        Ok(command
            .skus
            .iter()
            .map(|sku| ItemAdded { sku: sku.clone() })
            .collect())
    }

    #[apply]
    fn placed(&mut self, _event: &OrderPlaced) {
        self.placed = true;
    }

    #[apply]
    fn item_added(&mut self, _event: &ItemAdded) {
        self.items += 1;
    }

    #[apply]
    fn shipped(&mut self, _event: &OrderShipped) {
        self.shipped = true;
    }

    // Neither `#[handle]` nor `#[apply]`: left as it is.
    pub fn item_count(&self) -> usize {
        self.items
    }
}
// ANCHOR_END: aggregate

// ANCHOR: projection
pub struct OrderCounts;

#[projection(name = "shop.order_counts", version = 1)]
impl OrderCounts {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS order_counts (
                 order_id TEXT PRIMARY KEY, items BIGINT NOT NULL, shipped BOOLEAN NOT NULL)",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM order_counts").execute(&mut *db).await?;
        Ok(())
    }

    // One event.
    #[on]
    async fn placed(&self, event: &OrderPlaced, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO order_counts (order_id, items, shipped) VALUES ($1, 0, false)")
            .bind(&event.order_id)
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    // One event and its envelope; a one-parameter `Result` alias.
    #[on]
    async fn item_added(
        &self,
        _event: &ItemAdded,
        meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> sqlx::Result<()> {
        sqlx::query("UPDATE order_counts SET items = items + 1 WHERE 'shop.Order-' || order_id = $1")
            .bind(&meta.stream_id)
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    // A run of events and their envelopes (a batch handler; `events: &[OrderShipped]` alone
    // works too).
    #[on]
    async fn shipped(
        &self,
        _events: &[OrderShipped],
        metas: &[RecordedEvent],
        db: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        let streams: Vec<&str> = metas.iter().map(|m| m.stream_id.as_str()).collect();
        sqlx::query("UPDATE order_counts SET shipped = true WHERE 'shop.Order-' || order_id = ANY($1)")
            .bind(streams)
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    #[query]
    async fn items(
        &self,
        query: &ItemsOf,
        db: &mut ReadOnly<'_, PgConnection>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let sql = "SELECT items FROM order_counts WHERE order_id = $1";
        db.fetch_optional(sqlx::query_scalar(sql).bind(&query.order_id))
            .await
    }
}
// ANCHOR_END: projection

// ANCHOR: query
#[derive(Query)]
#[query(output = Option<i64>, read_model = OrderCounts)]
pub struct ItemsOf {
    pub order_id: String,
}
// ANCHOR_END: query

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shop = Chronicle::new(MemoryStore::new()).with_services::<Order>(Warehouse { open: true });
    let place = PlaceOrder {
        order_id: "o-1".into(),
        customer: "Grace".into(),
        items: vec!["book".into()],
    };
    shop.execute(place).await?;
    shop.execute(AddItems {
        order_id: "o-1".into(),
        skus: vec!["pen".into(), "ink".into()],
    })
    .await?;
    shop.execute(Ship("o-1".into())).await?;
    let nothing = shop
        .execute(ShipIfPlaced {
            order_id: "o-1".into(),
        })
        .await?;
    assert_eq!(nothing.position, None, "already shipped: no event");

    let order = shop.load::<Order>("o-1").await?;
    assert_eq!((order.state.item_count(), order.version), (3, 5));
    Ok(())
}
// ANCHOR_END: all

#[test]
fn every_form_runs() {
    main().unwrap();
    assert_eq!(
        OrderCounts::EVENT_TYPES,
        ["shop.OrderPlaced", "ItemAdded", "shop.OrderShipped"]
    );
}
