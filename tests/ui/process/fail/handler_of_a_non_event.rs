#[path = "../domain.rs"]
mod domain;

use chronicle::prelude::*;
use domain::*;
use serde::{Deserialize, Serialize};

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Checkout;

pub struct NotAnEvent {
    pub order_id: String,
}

#[process_manager(name = "checkout", commands(TakePayment))]
impl Checkout {
    #[on(correlate = order_id)]
    fn placed(&mut self, _: &NotAnEvent, _: &mut Process<Self>) {}
}

fn main() {}
