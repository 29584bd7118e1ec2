#[path = "../domain.rs"]
mod domain;

use chronicle::prelude::*;
use domain::*;
use serde::{Deserialize, Serialize};

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Checkout;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ShipOrder {
    pub order_id: String,
}

#[process_manager(name = "checkout", commands(ShipOrder))]
impl Checkout {
    #[on(correlate = order_id)]
    fn placed(&mut self, _: &OrderPlaced, _: &mut Process<Self>) {}
}

fn main() {}
