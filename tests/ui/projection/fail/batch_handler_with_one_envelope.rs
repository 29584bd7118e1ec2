use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::RecordedEvent;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub account_id: String,
    pub amount: i64,
}

pub struct Balances;

#[projection]
impl Balances {
    #[on]
    async fn deposited(
        &self,
        _events: &[Deposited],
        _meta: &RecordedEvent,
        _db: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

fn main() {}
