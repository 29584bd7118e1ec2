use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited")]
pub struct DepositedV1 {
    pub cents: i64,
}

// Version 1 is the first shape: there is nothing older to upcast from.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited", upcast_from = DepositedV1)]
pub struct Deposited {
    pub cents: i64,
}

impl From<DepositedV1> for Deposited {
    fn from(v1: DepositedV1) -> Self {
        Self { cents: v1.cents }
    }
}

fn main() {}
