// A handler returns `()`: it only validates and records nothing.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Opened {
    pub account_id: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct EnsureOpen {
    #[id]
    pub account_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the account is not open")]
pub struct NotOpen;

#[derive(Default, Clone, Debug)]
pub struct Account {
    open: bool,
}

#[aggregate]
impl Account {
    #[handle]
    fn ensure_open(&self, _command: EnsureOpen) -> Result<(), NotOpen> {
        if self.open {
            Ok(())
        } else {
            Err(NotOpen)
        }
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {
        self.open = true;
    }
}

fn main() {
    AggregateTest::<Account>::given([AccountEvent::Opened(Opened {
        account_id: "a-1".into(),
    })])
    .when(EnsureOpen {
        account_id: "a-1".into(),
    })
    .then_expect_events([]);
    AggregateTest::<Account>::given_no_history()
        .when(EnsureOpen {
            account_id: "a-1".into(),
        })
        .then_expect_error_message("the account is not open");
}
