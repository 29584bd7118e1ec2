// An aggregate's name may not contain `-`: it separates the name from the id in stream ids, so
// `Order` with id `Line-5` and `Order-Line` with id `5` would share a stream. `#[aggregate]`
// rejects such a name where it is written; an `Aggregate` impl written by hand fails to build
// where its stream id is first made.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct Added {
    pub sku: String,
}

#[derive(Default, Clone, Debug)]
pub struct Order;

#[aggregate]
impl Order {
    #[apply]
    fn added(&mut self, _event: &Added) {}
}

/// Written by hand, reusing the event enum `#[aggregate]` generated for `Order`.
#[derive(Default, Clone, Debug)]
pub struct OrderLine;

impl chronicle::Aggregate for OrderLine {
    const NAME: &'static str = "Order-Line";
    type Event = OrderEvent;
    type Services = ();

    fn apply(&mut self, _event: &OrderEvent) {}
}

fn main() {
    let _ = chronicle::stream_id::<OrderLine>("5");
}
