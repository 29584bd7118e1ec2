use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use serde::{Deserialize, Serialize};

mod accounts {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    #[event(name = "Opened")]
    pub struct Opened {
        pub account_id: String,
    }
}

mod loans {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    #[event(name = "Opened")]
    pub struct Opened {
        pub loan_id: String,
    }
}

pub struct Openings;

#[projection]
impl Openings {
    #[on]
    async fn account_opened(&self, _event: &accounts::Opened, _db: &mut PgConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }

    #[on]
    async fn loan_opened(&self, _event: &loans::Opened, _db: &mut PgConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

fn main() {}
