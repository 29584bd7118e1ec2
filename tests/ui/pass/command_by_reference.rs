// A handler may take the command by shared reference instead of by value.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
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
#[error("amounts must be positive")]
pub struct NotPositive;

#[derive(Default, Clone, Debug)]
pub struct Account {
    balance: i64,
}

#[aggregate]
impl Account {
    #[handle]
    fn deposit(&self, command: &Deposit) -> Result<Deposited, NotPositive> {
        if command.amount <= 0 {
            return Err(NotPositive);
        }
        Ok(Deposited {
            amount: command.amount,
        })
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {
    let command = Deposit {
        account_id: "a-1".into(),
        amount: 4,
    };
    assert_eq!(command.aggregate_id(), "a-1");
    AggregateTest::<Account>::given_no_history()
        .when(command)
        .then_expect_events([AccountEvent::Deposited(Deposited { amount: 4 })]);
}
