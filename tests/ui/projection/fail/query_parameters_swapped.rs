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
    #[on]
    async fn opened(&self, _event: &Opened, _db: &mut PgConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }

    #[query]
    async fn balance(&self, _db: &mut ReadOnly<'_, PgConnection>, _query: &BalanceOf) -> Result<Option<i64>, sqlx::Error> {
        Ok(None)
    }
}

#[derive(Query)]
#[query(output = Option<i64>, read_model = Balances)]
pub struct BalanceOf {
    pub account_id: String,
}

fn main() {}
