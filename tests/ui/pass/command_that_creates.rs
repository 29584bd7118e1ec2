// A command that starts its aggregate says so with the `creates` flag, and is still decided by
// the aggregate's rules.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Opened {
    pub owner: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account, creates)]
pub struct Open {
    #[id]
    pub account_id: String,
    pub owner: String,
}

#[derive(Command, Debug, Clone)]
#[command(creates, aggregate = Account)]
pub struct Reopen {
    #[id]
    pub account_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("already open")]
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
        Ok(Opened { owner: command.owner })
    }

    #[handle]
    fn reopen(&self, _command: &Reopen) -> Result<(), AlreadyOpen> {
        Ok(())
    }

    #[apply]
    fn opened(&mut self, _event: &Opened) {
        self.open = true;
    }
}

fn main() {
    assert!(<Open as Command>::CREATES);
    assert!(<Reopen as Command>::CREATES);
    let AlreadyOpen = AggregateTest::<Account>::given([Opened { owner: "Ada".into() }.into()])
        .when(Open {
            account_id: "a-1".into(),
            owner: "Bob".into(),
        })
        .then_expect_error();
}
