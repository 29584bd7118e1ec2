// One type may be named differently in different methods: by a path in a handler's return type,
// imported in its applier, renamed by `use ... as`, or through the event enum's path. The
// compiler, not the macro, decides that they are one type, so none of these is refused.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

mod events {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    pub struct Opened {
        pub owner: String,
    }

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    pub struct Deposited {
        pub amount: i64,
    }
}

mod services {
    pub struct Clock;
}

use events::Deposited as MoneyIn;
use events::Opened;
use services::Clock;

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Open {
    #[id]
    pub account_id: String,
    pub owner: String,
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
    owner: Option<String>,
    balance: i64,
}

#[aggregate(services = Clock)]
impl Account {
    #[handle]
    fn open(&self, command: &Open, _clock: &services::Clock) -> Result<events::Opened, Closed> {
        Ok(events::Opened { owner: command.owner.clone() })
    }

    #[handle]
    fn deposit(&self, command: &Deposit, _clock: &crate::Clock) -> Result<Vec<crate::AccountEvent>, Closed> {
        if self.owner.is_none() {
            return Err(Closed);
        }
        Ok(vec![AccountEvent::MoneyIn(events::Deposited { amount: command.amount })])
    }

    #[apply]
    fn opened(&mut self, event: &Opened) {
        self.owner = Some(event.owner.clone());
    }

    #[apply]
    fn deposited(&mut self, event: &MoneyIn) {
        self.balance += event.amount;
    }
}

fn main() {
    let opened = AggregateTest::<Account>::given_with_services([], Clock)
        .when(Open { account_id: "a-1".into(), owner: "ada".into() })
        .into_result()
        .unwrap();
    assert!(matches!(&opened[..], [AccountEvent::Opened(o)] if o.owner == "ada"));

    let history = [AccountEvent::Opened(Opened { owner: "ada".into() })];
    let deposited = AggregateTest::<Account>::given_with_services(history, Clock)
        .when(Deposit { account_id: "a-1".into(), amount: 5 })
        .into_result()
        .unwrap();
    assert!(matches!(&deposited[..], [AccountEvent::MoneyIn(d)] if d.amount == 5));
}
