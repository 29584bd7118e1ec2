// `#[aggregate(event = ...)]` names the generated event enum.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Opened {
    pub account_id: String,
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
    open: bool,
}

#[aggregate(event = Happened)]
impl Account {
    #[handle]
    fn open(&self, command: Open) -> Result<Vec<Happened>, AlreadyOpen> {
        if self.open {
            return Err(AlreadyOpen);
        }
        Ok(vec![Happened::Opened(Opened {
            account_id: command.account_id,
        })])
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {
        self.open = true;
    }
}

fn main() {
    AggregateTest::<Account>::given_no_history()
        .when(Open {
            account_id: "a-1".into(),
        })
        .then_expect_events([Happened::Opened(Opened {
            account_id: "a-1".into(),
        })]);
}
