// A handler returns `Vec` of the generated event enum: events of several types in any order.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Withdrawn {
    pub amount: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Transfer {
    #[id]
    pub account_id: String,
    pub moves: Vec<i64>,
}

#[derive(Debug, thiserror::Error)]
#[error("a move cannot be zero")]
pub struct Zero;

#[derive(Default, Clone, Debug)]
pub struct Account {
    balance: i64,
}

#[aggregate]
impl Account {
    #[handle]
    fn transfer(&self, command: Transfer) -> Result<Vec<AccountEvent>, Zero> {
        command
            .moves
            .into_iter()
            .map(|amount| match amount {
                0 => Err(Zero),
                a if a > 0 => Ok(Deposited { amount: a }.into()),
                a => Ok(AccountEvent::Withdrawn(Withdrawn { amount: -a })),
            })
            .collect()
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    #[apply]
    fn withdrawn(&mut self, event: &Withdrawn) {
        self.balance -= event.amount;
    }
}

fn main() {
    AggregateTest::<Account>::given_no_history()
        .when(Transfer {
            account_id: "a-1".into(),
            moves: vec![3, -1],
        })
        .then_expect_events([
            AccountEvent::Deposited(Deposited { amount: 3 }),
            AccountEvent::Withdrawn(Withdrawn { amount: 1 }),
        ]);
}
