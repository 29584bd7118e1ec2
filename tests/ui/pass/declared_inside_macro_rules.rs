// Items declared by a `macro_rules!` macro, with names passed in from outside, expand as usual:
// the generated code does not mix hygiene contexts.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

macro_rules! counter {
    ($aggregate:ident, $command:ident, $event:ident, $handler:ident, $applier:ident, $id:ident: $id_ty:ty) => {
        #[derive(Event, Serialize, Deserialize, Debug, Clone)]
        pub struct $event {
            pub by: u32,
        }

        #[derive(Command, Debug, Clone)]
        #[command(aggregate = $aggregate)]
        pub struct $command {
            #[id]
            pub $id: $id_ty,
            pub by: u32,
        }

        #[derive(Default, Clone, Debug)]
        pub struct $aggregate {
            value: u32,
        }

        #[aggregate]
        impl $aggregate {
            #[handle]
            fn $handler(&self, command: $command) -> Result<$event, std::convert::Infallible> {
                let _ = self.value;
                Ok($event { by: command.by })
            }

            #[apply]
            fn $applier(&mut self, event: &$event) {
                self.value += event.by;
            }
        }
    };
}

counter!(Counter, Increment, Incremented, increment, incremented, counter_id: u64);

fn main() {
    assert_eq!(Increment { counter_id: 7, by: 2 }.aggregate_id(), "7");
    AggregateTest::<Counter>::given_no_history()
        .when(Increment { counter_id: 7, by: 2 })
        .then_expect_events([CounterEvent::Incremented(Incremented { by: 2 })]);
}
