// A handler returns exactly one event; it lands in the generated `AccountEvent` enum.
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

#[aggregate]
impl Account {
    #[handle]
    fn open(&self, command: Open) -> Result<Opened, AlreadyOpen> {
        if self.open {
            return Err(AlreadyOpen);
        }
        Ok(Opened {
            account_id: command.account_id,
        })
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {
        self.open = true;
    }
}

fn main() {
    let opened = Opened {
        account_id: "a-1".into(),
    };
    AggregateTest::<Account>::given_no_history()
        .when(Open {
            account_id: "a-1".into(),
        })
        .then_expect_events([AccountEvent::Opened(opened.clone())]);
    AggregateTest::<Account>::given([AccountEvent::from(opened)])
        .when(Open {
            account_id: "a-1".into(),
        })
        .then_expect_error_message("the account is already open");
    assert_eq!(<Account as Aggregate>::NAME, "Account");
    assert_eq!(
        (<Opened as Event>::NAME, <Opened as Event>::VERSION),
        ("Opened", 1)
    );
}
