use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited", version = "1")]
pub struct Deposited {
    pub amount: i64,
}

fn main() {}
