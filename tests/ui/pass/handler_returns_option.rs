// A handler returns `Option<Event>`: `None` records nothing (an idempotent command).
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Closed {
    pub account_id: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Close {
    #[id]
    pub account_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

#[derive(Default, Clone, Debug)]
pub struct Account {
    closed: bool,
}

#[aggregate]
impl Account {
    #[handle]
    fn close(&self, command: Close) -> Result<Option<Closed>, Never> {
        Ok((!self.closed).then_some(Closed {
            account_id: command.account_id,
        }))
    }

    #[apply]
    fn closed(&mut self, _event: &Closed) {
        self.closed = true;
    }
}

fn main() {
    let closed = Closed {
        account_id: "a-1".into(),
    };
    AggregateTest::<Account>::given_no_history()
        .when(Close {
            account_id: "a-1".into(),
        })
        .then_expect_events([AccountEvent::Closed(closed.clone())]);
    AggregateTest::<Account>::given([AccountEvent::Closed(closed)])
        .when(Close {
            account_id: "a-1".into(),
        })
        .then_expect_events([]);
}
