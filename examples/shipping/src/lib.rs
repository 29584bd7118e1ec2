//! The integration example: the orders service (`orders_service`), and the shipping service's
//! view (below). The shipping service keeps a view of what the warehouse must ship,
//! built from the orders service's events as they arrive through a broker. This service has no
//! access to the orders' event store; its read model lives in a SQLite file of its own.

pub mod broker;
pub mod orders_service;

// ANCHOR: view
use chronicle::prelude::*;
use chronicle::sqlx::{self, SqliteConnection};
use orders::domain::{ItemAdded, OrderCreated, OrderShipped};

/// One row per order the warehouse knows of: how many items to pack, and whether it left.
#[derive(Debug, Clone, PartialEq)]
pub struct Shipment {
    pub order_id: String,
    pub customer: String,
    pub items: i64,
    pub carrier: Option<String>,
}

/// The projection, fed by a [`Consumer`](chronicle::Consumer) instead of the event table.
#[derive(Default)]
pub struct Shipments;

#[projection(name = "shipping.shipments", version = 1)]
impl Shipments {
    #[reset]
    async fn reset(&self, db: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS shipments (order_id TEXT PRIMARY KEY, customer TEXT NOT NULL,
                 items INTEGER NOT NULL, carrier TEXT)",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM shipments").execute(&mut *db).await?;
        Ok(())
    }

    #[on]
    async fn created(&self, event: &OrderCreated, db: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO shipments VALUES ($1, $2, 0, NULL)")
            .bind(&event.order_id)
            .bind(&event.customer)
            .execute(&mut *db)
            .await
            .map(drop)
    }

    #[on]
    async fn item_added(&self, event: &ItemAdded, db: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE shipments SET items = items + $2 WHERE order_id = $1")
            .bind(&event.order_id)
            .bind(i64::from(event.quantity))
            .execute(&mut *db)
            .await
            .map(drop)
    }

    #[on]
    async fn shipped(&self, event: &OrderShipped, db: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE shipments SET carrier = $2 WHERE order_id = $1")
            .bind(&event.order_id)
            .bind(&event.carrier)
            .execute(&mut *db)
            .await
            .map(drop)
    }

    #[query]
    async fn shipment(
        &self,
        query: &ShipmentOf,
        db: &mut ReadOnly<'_, SqliteConnection>,
    ) -> Result<Option<Shipment>, sqlx::Error> {
        let sql = "SELECT order_id, customer, items, carrier FROM shipments WHERE order_id = $1";
        let row: Option<(String, String, i64, Option<String>)> = db
            .fetch_optional(sqlx::query_as(sql).bind(&query.order_id))
            .await?;
        Ok(row.map(|(order_id, customer, items, carrier)| Shipment {
            order_id,
            customer,
            items,
            carrier,
        }))
    }

    #[query]
    async fn to_pack(
        &self,
        _query: &ToPack,
        db: &mut ReadOnly<'_, SqliteConnection>,
    ) -> Result<i64, sqlx::Error> {
        let sql = "SELECT COALESCE(SUM(items), 0) FROM shipments WHERE carrier IS NULL";
        let (items,): (i64,) = db.fetch_one(sqlx::query_as(sql)).await?;
        Ok(items)
    }
}

/// One order's shipment.
#[derive(Query)]
#[query(output = Option<Shipment>, read_model = Shipments)]
pub struct ShipmentOf {
    pub order_id: String,
}

/// How many items wait to be packed, over every order not yet shipped.
#[derive(Query)]
#[query(output = i64, read_model = Shipments)]
pub struct ToPack;
// ANCHOR_END: view
