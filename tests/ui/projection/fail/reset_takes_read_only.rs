use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::ReadOnly;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Opened {
    pub account_id: String,
}

pub struct Balances;

#[projection]
impl Balances {
    #[reset]
    async fn reset(&self, _db: &mut ReadOnly<'_, PgConnection>) -> Result<(), sqlx::Error> {
        Ok(())
    }

    #[on]
    async fn opened(&self, _event: &Opened, _db: &mut PgConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

fn main() {}
