use chronicle::prelude::*;
use serde::Deserialize;

#[derive(Event, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

fn main() {}
