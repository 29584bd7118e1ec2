use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
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

#[projection(version = 0)]
impl Balances {
    #[on]
    fn opened(&mut self, _event: &Opened, _db: &mut PgConnection) -> Result<bool, sqlx::Error> {
        Ok(true)
    }

    #[on]
    async fn deposited(&self, _event: &Deposited, _db: &PgConnection) {}
}

fn main() {}
