//! The read side of the order example: one denormalized row per order, kept in a store of its
//! own (level 2) and answered by queries that cannot write. Written once, on `Sql`: the store
//! is a SQLite file, a Postgres database or a MariaDB database, as the application is started.

// ANCHOR: projection
use chronicle::prelude::*;
use chronicle::sqlx;

// The order example's events (`examples/orders/src/domain.rs`).
use crate::domain::{ItemAdded, OrderCreated, OrderShipped};

/// Everything a screen shows about an order, in one row: no joins at read time.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderSummaryRow {
    pub order_id: String,
    pub customer: String,
    pub item_count: i64,
    pub total_cents: i64,
    pub status: String,
    pub carrier: Option<String>,
}

type Row = (String, String, i64, i64, String, Option<String>);

impl From<Row> for OrderSummaryRow {
    fn from((order_id, customer, item_count, total_cents, status, carrier): Row) -> Self {
        Self {
            order_id,
            customer,
            item_count,
            total_cents,
            status,
            carrier,
        }
    }
}

const SUMMARY_COLUMNS: &str =
    "SELECT order_id, customer, item_count, total_cents, status, carrier FROM order_summaries";

/// The projection that maintains `order_summaries` in the read store.
#[derive(Default)]
pub struct OrderSummaries;

#[projection(name = "shop.order_summaries", version = 1)]
impl OrderSummaries {
    /// Leaves the table empty, creating it if missing: before the first build and before every
    /// rebuild. Safe to run any number of times, on a new store or an existing one.
    #[reset]
    async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
        db.execute(sql(
            "CREATE TABLE IF NOT EXISTS order_summaries (
                 order_id VARCHAR(200) PRIMARY KEY, customer TEXT NOT NULL,
                 item_count BIGINT NOT NULL, total_cents BIGINT NOT NULL,
                 status VARCHAR(16) NOT NULL, carrier TEXT, last_position BIGINT NOT NULL)",
        ))
        .await?;
        db.execute(sql("DELETE FROM order_summaries")).await?;
        Ok(())
    }

    #[on]
    async fn created(
        &self,
        event: &OrderCreated,
        meta: &RecordedEvent,
        db: &mut Sql,
    ) -> Result<(), sqlx::Error> {
        db.execute(
            sql("INSERT INTO order_summaries VALUES ($1, $2, 0, 0, 'open', NULL, $3)")
                .bind(&event.order_id)
                .bind(&event.customer)
                .bind(meta.position as i64),
        )
        .await?;
        Ok(())
    }

    #[on]
    async fn item_added(
        &self,
        event: &ItemAdded,
        meta: &RecordedEvent,
        db: &mut Sql,
    ) -> Result<(), sqlx::Error> {
        db.execute(
            sql(
                "UPDATE order_summaries SET item_count = item_count + $2, total_cents = total_cents + $3,
                     last_position = $4 WHERE order_id = $1",
            )
            .bind(&event.order_id)
            .bind(i64::from(event.quantity))
            .bind(i64::from(event.quantity) * event.unit_price_cents)
            .bind(meta.position as i64),
        )
        .await?;
        Ok(())
    }

    #[on]
    async fn shipped(
        &self,
        event: &OrderShipped,
        meta: &RecordedEvent,
        db: &mut Sql,
    ) -> Result<(), sqlx::Error> {
        db.execute(
            sql("UPDATE order_summaries SET status = 'shipped', carrier = $2, last_position = $3 WHERE order_id = $1")
                .bind(&event.order_id)
                .bind(&event.carrier)
                .bind(meta.position as i64),
        )
        .await?;
        Ok(())
    }

    #[query]
    async fn summary(
        &self,
        query: &OrderSummary,
        db: &mut ReadOnly<'_, Sql>,
    ) -> Result<Option<OrderSummaryRow>, sqlx::Error> {
        let statement = sql_as(format!("{SUMMARY_COLUMNS} WHERE order_id = $1")).bind(&query.order_id);
        let row: Option<Row> = db.fetch_optional(statement).await?;
        Ok(row.map(OrderSummaryRow::from))
    }

    #[query]
    async fn open_orders(
        &self,
        _query: &OpenOrders,
        db: &mut ReadOnly<'_, Sql>,
    ) -> Result<Vec<OrderSummaryRow>, sqlx::Error> {
        let statement = sql_as(format!(
            "{SUMMARY_COLUMNS} WHERE status = 'open' ORDER BY order_id"
        ));
        let rows: Vec<Row> = db.fetch_all(statement).await?;
        Ok(rows.into_iter().map(OrderSummaryRow::from).collect())
    }
}

/// One order's summary.
#[derive(Query)]
#[query(output = Option<OrderSummaryRow>, read_model = OrderSummaries)]
pub struct OrderSummary {
    pub order_id: String,
}

/// Every order that has not shipped yet.
#[derive(Query)]
#[query(output = Vec<OrderSummaryRow>, read_model = OrderSummaries)]
pub struct OpenOrders;
// ANCHOR_END: projection
