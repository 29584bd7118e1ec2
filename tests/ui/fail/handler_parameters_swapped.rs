use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Deposit {
    #[id]
    pub account_id: String,
    pub amount: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("closed")]
pub struct Closed;

pub struct Clock;

#[derive(Default, Clone, Debug)]
pub struct Account {
    balance: i64,
}

#[aggregate(services = Clock)]
impl Account {
    #[handle]
    fn deposit(&self, _clock: &Clock, command: Deposit) -> Result<Deposited, Closed> {
        Ok(Deposited {
            amount: command.amount,
        })
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {}
