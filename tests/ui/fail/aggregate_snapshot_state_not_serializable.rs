use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

// Snapshots store the state, but it derives neither `Serialize` nor `Deserialize`.
#[derive(Default, Clone, Debug)]
pub struct Account {
    balance: i64,
}

#[aggregate(snapshot_every = 100)]
impl Account {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {}
