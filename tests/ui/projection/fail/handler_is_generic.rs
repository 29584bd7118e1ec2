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
    async fn opened<E: AsRef<str>>(&self, _event: &Opened, _db: &mut PgConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

fn main() {}
