use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited", version = 1)]
pub struct DepositedV1 {
    pub cents: i64,
}

// Upcasters go one version at a time: version 3 must upcast from version 2.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited", version = 3, upcast_from = DepositedV1)]
pub struct Deposited {
    pub cents: i64,
}

impl From<DepositedV1> for Deposited {
    fn from(v1: DepositedV1) -> Self {
        Self { cents: v1.cents }
    }
}

fn main() {}
