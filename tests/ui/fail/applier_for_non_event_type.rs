// An `#[apply]` method for a type that is not an event: every applied type is stored, so it
// must derive `Event`.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Frozen {
    pub reason: String,
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

#[derive(Default, Clone, Debug)]
pub struct Account {
    balance: i64,
    frozen: bool,
}

#[aggregate]
impl Account {
    #[handle]
    fn deposit(&self, command: Deposit) -> Result<Deposited, Closed> {
        Ok(Deposited {
            amount: command.amount,
        })
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    #[apply]
    fn frozen(&mut self, _event: &Frozen) {
        self.frozen = true;
    }
}

fn main() {}
