use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

mod events {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    pub struct Deposited {
        pub amount: i64,
    }
}

use events::Deposited;

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
    fn deposited_again(&mut self, event: &events::Deposited) {
        self.balance += event.amount;
    }
}

fn main() {}
