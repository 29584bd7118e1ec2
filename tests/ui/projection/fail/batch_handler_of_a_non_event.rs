use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};

pub struct NotAnEvent {
    pub amount: i64,
}

pub struct Balances;

#[projection]
impl Balances {
    #[on]
    async fn deposited(&self, _events: &[NotAnEvent], _db: &mut PgConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

fn main() {}
