// A handler returns `Vec<Event>`: any number of events of one type.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct DepositMany {
    #[id]
    pub account_id: String,
    pub amounts: Vec<i64>,
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
    fn deposit_many(&self, command: DepositMany) -> Result<Vec<Deposited>, NotPositive> {
        if command.amounts.iter().any(|amount| *amount <= 0) {
            return Err(NotPositive);
        }
        Ok(command
            .amounts
            .into_iter()
            .map(|amount| Deposited { amount })
            .collect())
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {
    AggregateTest::<Account>::given_no_history()
        .when(DepositMany {
            account_id: "a-1".into(),
            amounts: vec![1, 2],
        })
        .then_expect_events([
            AccountEvent::Deposited(Deposited { amount: 1 }),
            AccountEvent::Deposited(Deposited { amount: 2 }),
        ]);
}
