use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Moved {
    pub amount: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Transfer {
    #[id]
    pub from: String,
    #[id]
    pub to: String,
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
    fn transfer(&self, command: Transfer) -> Result<Moved, Closed> {
        Ok(Moved {
            amount: command.amount,
        })
    }

    #[apply]
    fn moved(&mut self, event: &Moved) {
        self.balance -= event.amount;
    }
}

fn main() {}
