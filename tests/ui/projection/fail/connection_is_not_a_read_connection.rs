use chronicle::prelude::*;
use chronicle::sqlx;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Opened {
    pub account_id: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

pub struct Balances;

use chronicle::sqlx::PgPool;

#[projection]
impl Balances {
    #[on]
    async fn opened(&self, _event: &Opened, _db: &mut PgPool) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

fn main() {}
