use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(nmae = "bank.MoneyDeposited")]
pub struct Deposited {
    pub amount: i64,
}

fn main() {}
