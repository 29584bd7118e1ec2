// An event named through a type alias in a handler, and by its own name in the applier, is one
// event: the alias is checked by the compiler, not compared as text.
use chronicle::prelude::*;
use chronicle::testing::AggregateTest;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "shop.OrderPlaced", version = 2)]
pub struct OrderPlacedV2 {
    pub items: u32,
}

/// The current shape, under a name that does not change with versions.
pub type OrderPlaced = OrderPlacedV2;

#[derive(Command, Debug, Clone)]
#[command(aggregate = Order)]
pub struct PlaceOrder {
    #[id]
    pub order_id: u64,
    pub items: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("already placed")]
pub struct AlreadyPlaced;

#[derive(Default, Clone, Debug)]
pub struct Order {
    items: u32,
}

#[aggregate]
impl Order {
    #[handle]
    fn place(&self, command: &PlaceOrder) -> Result<Option<OrderPlaced>, AlreadyPlaced> {
        if self.items > 0 {
            return Err(AlreadyPlaced);
        }
        Ok(Some(OrderPlaced { items: command.items }))
    }

    #[apply]
    fn placed(&mut self, event: &OrderPlacedV2) {
        self.items = event.items;
    }
}

fn main() {
    let placed = AggregateTest::<Order>::given_no_history()
        .when(PlaceOrder { order_id: 1, items: 3 })
        .into_result()
        .unwrap();
    assert!(matches!(&placed[..], [OrderEvent::OrderPlacedV2(p)] if p.items == 3));
    assert_eq!(<OrderPlaced as Event>::NAME, "shop.OrderPlaced");
}
