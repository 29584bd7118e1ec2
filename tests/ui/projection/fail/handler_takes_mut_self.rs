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

#[derive(Default)]
pub struct Totals {
    total: i64,
}

#[projection]
impl Totals {
    #[on]
    async fn deposited(&mut self, event: &Deposited, _db: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.total += event.amount;
        Ok(())
    }
}

fn main() {
    let _ = Balances;
}
