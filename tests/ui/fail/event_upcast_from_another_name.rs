use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

// The previous shape must be stored under the same name.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.Deposited", version = 1)]
pub struct DepositedV1 {
    pub cents: i64,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited", version = 2, upcast_from = DepositedV1)]
pub struct Deposited {
    pub cents: i64,
}

impl From<DepositedV1> for Deposited {
    fn from(v1: DepositedV1) -> Self {
        Self { cents: v1.cents }
    }
}

fn main() {}
