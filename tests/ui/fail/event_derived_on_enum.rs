use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub enum AccountEvent {
    Deposited { amount: i64 },
    Withdrawn { amount: i64 },
}

fn main() {}
