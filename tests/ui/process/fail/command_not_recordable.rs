#[path = "../domain.rs"]
mod domain;

use chronicle::prelude::*;
use domain::*;
use serde::{Deserialize, Serialize};

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Checkout;

#[derive(Command, Debug, Clone)]
#[command(aggregate = Shelf)]
pub struct Archive {
    #[id]
    pub order_id: String,
}

#[derive(Default, Clone, Debug)]
pub struct Shelf;

#[aggregate]
impl Shelf {
    #[handle]
    fn archive(&self, command: &Archive) -> Result<OrderPlaced, Refused> {
        Ok(OrderPlaced {
            order_id: command.order_id.clone(),
            amount: 0,
        })
    }

    #[apply]
    fn placed(&mut self, _: &OrderPlaced) {}
}

#[process_manager(name = "checkout", commands(Archive))]
impl Checkout {
    #[on(correlate = order_id)]
    fn placed(&mut self, _: &OrderPlaced, _: &mut Process<Self>) {}
}

fn main() {}
