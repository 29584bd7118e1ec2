// Types passed to a `macro_rules!` macro as `$t:ty` reach `#[aggregate]` inside invisible groups:
// the command, the services, the handler's whole return type, the events in it and the applied
// event are all read through them.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Opened {
    pub owner: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Greeted;

#[derive(Command, Debug, Clone)]
#[command(aggregate = Account)]
pub struct Open {
    #[id]
    pub account_id: String,
    pub owner: String,
}

#[derive(Debug, thiserror::Error)]
#[error("already open")]
pub struct AlreadyOpen;

#[derive(Default)]
pub struct Clock;

macro_rules! account {
    ($command:ty, $services:ty, $returns:ty, $event:ty, $other:ty) => {
        #[derive(Default, Clone, Debug)]
        pub struct Account {
            owner: Option<String>,
        }

        #[aggregate(services = $services)]
        impl Account {
            #[handle]
            fn open(&self, command: &$command, _clock: &$services) -> $returns {
                if self.owner.is_some() {
                    return Err(AlreadyOpen);
                }
                Ok((Opened { owner: command.owner.clone() }, Greeted))
            }

            #[apply]
            fn opened(&mut self, event: &$event) {
                self.owner = Some(event.owner.clone());
            }

            #[apply]
            fn greeted(&mut self, _event: &$other) {}
        }
    };
}

account!(Open, Clock, Result<(Opened, Greeted), AlreadyOpen>, Opened, Greeted);

fn main() {
    AggregateTest::<Account>::given_with_services([], Clock)
        .when(Open { account_id: "a-1".into(), owner: "ada".into() })
        .then_expect_events([
            AccountEvent::Opened(Opened { owner: "ada".into() }),
            AccountEvent::Greeted(Greeted),
        ]);
}
