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

use chronicle::ReadOnly;

#[projection]
impl Balances {
    #[query]
    async fn balance(&self, _query: &BalanceOf, _db: &mut ReadOnly<'_, PgConnection>) -> Result<Option<i64>, sqlx::Error> {
        Ok(None)
    }
}

#[derive(Query)]
#[query(output = Option<i64>, read_model = Balances)]
pub struct BalanceOf {
    pub account_id: String,
}

fn main() {}
