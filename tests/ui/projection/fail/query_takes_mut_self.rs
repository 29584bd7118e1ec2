use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::ReadOnly;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Opened {
    pub account_id: String,
}

#[derive(Default)]
pub struct Balances {
    asked: u64,
}

#[projection]
impl Balances {
    #[on]
    async fn opened(&self, _event: &Opened, _db: &mut PgConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }

    #[query]
    async fn balance(&mut self, _query: &BalanceOf, _db: &mut ReadOnly<'_, PgConnection>) -> Result<Option<i64>, sqlx::Error> {
        self.asked += 1;
        Ok(None)
    }
}

#[derive(Query)]
#[query(output = Option<i64>, read_model = Balances)]
pub struct BalanceOf {
    pub account_id: String,
}

fn main() {}
