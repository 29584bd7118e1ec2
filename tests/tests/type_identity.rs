//! An aggregate whose handlers name their events differently from its appliers (a path, a
//! `use ... as` rename, a type alias, a `$t:ty` of a `macro_rules!` macro) records and replays them
//! as one event type each: executed against a store and loaded back.

use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

mod events {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    #[event(name = "shelf.Stocked")]
    pub struct Stocked {
        pub count: u32,
    }

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    #[event(name = "shelf.Sold")]
    pub struct Sold {
        pub count: u32,
    }
}

use events::Sold as ItemsSold;
use events::Stocked;

type Sale = events::Sold;

#[derive(Command, Debug, Clone)]
#[command(aggregate = Shelf)]
struct Stock {
    #[id]
    shelf: String,
    count: u32,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Shelf)]
struct Sell {
    #[id]
    shelf: String,
    count: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("only {0} left")]
struct SoldOut(u32);

#[derive(Default, Clone, Debug)]
struct Shelf {
    count: u32,
}

macro_rules! shelf {
    ($stocked:ty) => {
        #[aggregate(name = "shelf.Shelf")]
        impl Shelf {
            #[handle]
            fn stock(&self, command: &Stock) -> Result<events::Stocked, SoldOut> {
                Ok(events::Stocked {
                    count: command.count,
                })
            }

            #[handle]
            fn sell(&self, command: &Sell) -> Result<Option<Sale>, SoldOut> {
                if command.count > self.count {
                    return Err(SoldOut(self.count));
                }
                Ok((command.count > 0).then_some(Sale {
                    count: command.count,
                }))
            }

            #[apply]
            fn stocked(&mut self, event: &$stocked) {
                self.count += event.count;
            }

            #[apply]
            fn sold(&mut self, event: &ItemsSold) {
                self.count -= event.count;
            }
        }
    };
}

shelf!(Stocked);

#[tokio::test]
async fn events_named_differently_are_recorded_and_replayed_as_one_type() {
    let shelves = Chronicle::new(MemoryStore::new());
    let stock = |count| Stock {
        shelf: "s-1".into(),
        count,
    };
    let sell = |count| Sell {
        shelf: "s-1".into(),
        count,
    };
    shelves.execute(stock(5)).await.unwrap();
    shelves.execute(sell(3)).await.unwrap();
    assert!(matches!(
        shelves.execute(sell(4)).await,
        Err(CommandError::Rejected(SoldOut(2)))
    ));

    let shelf = shelves.load::<Shelf>("s-1").await.unwrap();
    assert_eq!((shelf.state.count, shelf.version), (2, 2));
    let names: Vec<_> = <ShelfEvent as chronicle::EventSet>::TYPES
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(names, ["shelf.Stocked", "shelf.Sold"]);
}
