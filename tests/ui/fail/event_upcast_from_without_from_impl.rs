use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited", version = 1)]
pub struct DepositedV1 {
    pub cents: i64,
}

// Declares its previous shape, but says nowhere how a `DepositedV1` becomes a `Deposited`.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyDeposited", version = 2, upcast_from = DepositedV1)]
pub struct Deposited {
    pub cents: i64,
    pub currency: String,
}

fn main() {}
