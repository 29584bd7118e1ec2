use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("closed")]
pub struct Closed;

#[derive(Default, Clone, Debug)]
pub struct Account {
    balance: i64,
}

impl Account {
    fn balance(&self) -> i64 {
        self.balance
    }
}

pub trait Ledger {
    fn deposited(&mut self, event: &Deposited);
}

#[aggregate]
impl Ledger for Account {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {
    let _ = Account::default().balance();
}
