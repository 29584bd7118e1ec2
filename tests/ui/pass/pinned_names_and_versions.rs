// Stored names and versions pinned with attributes, independent of the Rust type names.
use chronicle::prelude::*;
use chronicle::EventSet;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.AccountOpened", version = 3)]
pub struct Opened {
    pub account_id: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(version = 2)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "bank.MoneyWithdrawn")]
pub struct Withdrawn {
    pub amount: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Open {
    #[id]
    pub account_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the account is already open")]
pub struct AlreadyOpen;

#[derive(Default, Clone, Debug)]
pub struct Account {
    balance: i64,
}

#[aggregate(name = "bank.Account")]
impl Account {
    #[handle]
    fn open(&self, command: Open) -> Result<Opened, AlreadyOpen> {
        Ok(Opened {
            account_id: command.account_id,
        })
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {}

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
    assert_eq!(<Account as Aggregate>::NAME, "bank.Account");
    assert_eq!(
        AccountEvent::TYPES,
        &[
            ("bank.AccountOpened", 3),
            ("Deposited", 2),
            ("bank.MoneyWithdrawn", 1)
        ]
    );
    let event = AccountEvent::Withdrawn(Withdrawn { amount: 1 });
    assert_eq!(
        (event.event_type(), event.event_version()),
        ("bank.MoneyWithdrawn", 1)
    );
}
