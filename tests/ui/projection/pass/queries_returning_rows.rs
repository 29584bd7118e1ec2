// One projection may answer several queries, with any output: rows through `query_as`, lists
// of values through `query_scalar`.
use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{Answer, ReadOnly};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct ProductListed {
    pub sku: String,
    pub price: i64,
}

/// A product's row: `(sku, price)`.
pub type Product = (String, i64);

pub struct Catalog;

#[projection(name = "shop.catalog")]
impl Catalog {
    #[on]
    async fn listed(&self, event: &ProductListed, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO catalog (sku, price) VALUES ($1, $2)")
            .bind(&event.sku)
            .bind(event.price)
            .execute(&mut *db)
            .await?;
        Ok(())
    }

    #[query]
    async fn cheaper_than(&self, query: &ProductsCheaperThan, db: &mut ReadOnly<'_, PgConnection>) -> Result<Vec<Product>, sqlx::Error> {
        db.fetch_all(sqlx::query_as("SELECT sku, price FROM catalog WHERE price < $1").bind(query.price)).await
    }

    #[query]
    async fn skus(&self, _query: &AllSkus, db: &mut ReadOnly<'_, PgConnection>) -> Result<Vec<String>, sqlx::Error> {
        db.fetch_all(sqlx::query_scalar("SELECT sku FROM catalog")).await
    }
}

#[derive(Query)]
#[query(output = Vec<Product>, read_model = Catalog)]
pub struct ProductsCheaperThan {
    pub price: i64,
}

#[derive(Query)]
#[query(read_model = Catalog, output = Vec<String>)]
pub struct AllSkus;

fn answers<P: Answer<ProductsCheaperThan> + Answer<AllSkus>>() {}

fn main() {
    answers::<Catalog>();
}
