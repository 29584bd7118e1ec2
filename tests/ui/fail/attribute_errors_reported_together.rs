// Every attribute mistake of one compile is reported, not only the first.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(nmae = "bank.MoneyDeposited", version = 0, verison = 2)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Command, Debug, Clone)]
#[command(agregate = Account)]
pub struct Deposit {
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

#[aggregate(name = "bank.Account", servces = ())]
impl Account {
    #[handle]
    fn deposit(&mut self, command: Deposit) -> Result<Deposited, Closed> {
        Ok(Deposited {
            amount: command.amount,
        })
    }

    #[apply]
    fn deposited(&mut self, event: Deposited) {
        self.balance += event.amount;
    }
}

fn main() {}
