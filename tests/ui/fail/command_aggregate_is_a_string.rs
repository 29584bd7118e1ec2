use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = "Account")]
pub struct Deposit {
    #[id]
    pub account_id: String,
    pub amount: i64,
}

fn main() {}
