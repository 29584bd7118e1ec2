use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account<i64>)]
pub struct Deposit {
    #[id]
    pub account_id: String,
    pub amount: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("closed")]
pub struct Closed;

#[derive(Default, Clone, Debug)]
pub struct Account<T> {
    balance: T,
}

#[aggregate]
impl<T: Default + Clone + Send + Sync + std::ops::AddAssign<i64> + 'static> Account<T> {
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
}

fn main() {}
