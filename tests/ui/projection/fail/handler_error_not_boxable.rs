use chronicle::prelude::*;
use chronicle::sqlx::PgConnection;
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

#[derive(Debug)]
pub struct NotAnError;

#[projection]
impl Balances {
    #[on]
    async fn opened(&self, _event: &Opened, _db: &mut PgConnection) -> Result<(), NotAnError> {
        Err(NotAnError)
    }
}

fn main() {}
