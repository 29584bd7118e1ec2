// A handler returns a tuple of events, recorded in order.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Opened {
    pub account_id: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct OpenWithDeposit {
    #[id]
    pub account_id: String,
    pub amount: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("the account is already open")]
pub struct AlreadyOpen;

#[derive(Default, Clone, Debug)]
pub struct Account {
    open: bool,
    balance: i64,
}

#[aggregate]
impl Account {
    #[handle]
    fn open(&self, command: OpenWithDeposit) -> Result<(Opened, Deposited), AlreadyOpen> {
        if self.open {
            return Err(AlreadyOpen);
        }
        Ok((
            Opened {
                account_id: command.account_id,
            },
            Deposited {
                amount: command.amount,
            },
        ))
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {
    AggregateTest::<Account>::given_no_history()
        .when(OpenWithDeposit {
            account_id: "a-1".into(),
            amount: 5,
        })
        .then_expect_events([
            AccountEvent::Opened(Opened {
                account_id: "a-1".into(),
            }),
            AccountEvent::Deposited(Deposited { amount: 5 }),
        ]);
    let mut account = Account::default();
    account.apply(&AccountEvent::Deposited(Deposited { amount: 5 }));
    assert_eq!(account.balance, 5);
}
