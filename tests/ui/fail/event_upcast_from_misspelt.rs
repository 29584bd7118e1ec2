use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited", version = 1)]
pub struct DepositedV1 {
    pub cents: i64,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited", version = 2, upcast_form = DepositedV1)]
pub struct Deposited {
    pub cents: i64,
}

fn main() {}
