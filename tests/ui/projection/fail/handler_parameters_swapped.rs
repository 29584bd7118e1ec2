use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Opened {
    pub account_id: String,
}

pub struct Balances;

#[projection]
impl Balances {
    #[on]
    async fn opened(&self, db: &mut PgConnection, event: &Opened) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO accounts (id) VALUES ($1)").bind(&event.account_id).execute(&mut *db).await?;
        Ok(())
    }
}

fn main() {}
