// Without a `#[deadline]` handler the deadline type is `()`, and no rejection handler is needed.
#[path = "../domain.rs"]
mod domain;

use chronicle::prelude::*;
use domain::*;
use serde::{Deserialize, Serialize};

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Reorder;

#[process_manager(name = "reorder", commands(PlaceOrder))]
impl Reorder {
    #[on(correlate = payment_id)]
    fn paid(&mut self, event: &PaymentTaken, process: &mut Process<Self>) {
        process.send(PlaceOrder {
            order_id: format!("{}-again", event.order_id),
            amount: 1,
        });
    }
}

fn main() {
    let _: <Reorder as ProcessManager>::Deadline = ();
    let command: ReorderCommand = PlaceOrder {
        order_id: "o".to_owned(),
        amount: 1,
    }
    .into();
    assert_eq!(chronicle::ProcessCommand::<Reorder>::name(&command), "PlaceOrder");
}
