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

#[projection]
impl Balances {
    #[on]
    fn opened(&self, _event: &Opened, _db: &mut PgConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

fn main() {}
