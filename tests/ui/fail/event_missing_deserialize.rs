use chronicle::prelude::*;
use serde::Serialize;

#[derive(Event, Serialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

fn main() {}
