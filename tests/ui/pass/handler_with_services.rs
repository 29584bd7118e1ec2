// A handler may take the aggregate's services as a third parameter, declared with `services = T`.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Default)]
pub struct Clock {
    pub now: u64,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Opened {
    pub at: u64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Open {
    #[id]
    pub account_id: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Touch {
    #[id]
    pub account_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the account is already open")]
pub struct AlreadyOpen;

#[derive(Default, Clone, Debug)]
pub struct Account {
    opened_at: Option<u64>,
}

#[aggregate(services = Clock)]
impl Account {
    #[handle]
    fn open(&self, _command: &Open, clock: &Clock) -> Result<Opened, AlreadyOpen> {
        if self.opened_at.is_some() {
            return Err(AlreadyOpen);
        }
        Ok(Opened { at: clock.now })
    }

    // Handlers that need no services leave the parameter out.
    #[handle]
    fn touch(&self, _command: Touch) -> Result<(), AlreadyOpen> {
        Ok(())
    }

    #[apply]
    fn opened(&mut self, event: &Opened) {
        self.opened_at = Some(event.at);
    }
}

fn main() {
    AggregateTest::<Account>::given_with_services([], Clock { now: 42 })
        .when(Open {
            account_id: "a-1".into(),
        })
        .then_expect_events([AccountEvent::Opened(Opened { at: 42 })]);
    AggregateTest::<Account>::given_no_history()
        .when(Touch {
            account_id: "a-1".into(),
        })
        .then_expect_events([]);
}
