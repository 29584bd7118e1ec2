use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    balance: i64,
}

#[aggregate(snapshots_every = 100)]
impl Account {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {}
