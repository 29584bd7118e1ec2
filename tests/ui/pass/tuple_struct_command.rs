// A tuple-struct command marks its id field with `#[id]` too.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Deposited {
    pub amount: i64,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Deposit(pub i64, #[id] pub u64);

#[derive(Debug, thiserror::Error)]
#[error("amounts must be positive")]
pub struct NotPositive;

#[derive(Default, Clone, Debug)]
pub struct Account {
    balance: i64,
}

#[aggregate]
impl Account {
    #[handle]
    fn deposit(&self, command: Deposit) -> Result<Deposited, NotPositive> {
        if command.0 <= 0 {
            return Err(NotPositive);
        }
        Ok(Deposited { amount: command.0 })
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {
    assert_eq!(Deposit(5, 17).aggregate_id(), "17");
    AggregateTest::<Account>::given_no_history()
        .when(Deposit(5, 17))
        .then_expect_events([AccountEvent::Deposited(Deposited { amount: 5 })]);
}
