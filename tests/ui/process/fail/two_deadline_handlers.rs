#[path = "../domain.rs"]
mod domain;

use chronicle::prelude::*;
use domain::*;
use serde::{Deserialize, Serialize};

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Checkout;

#[process_manager(name = "checkout", commands(TakePayment))]
impl Checkout {
    #[on(correlate = order_id)]
    fn placed(&mut self, _: &OrderPlaced, _: &mut Process<Self>) {}

    #[deadline]
    fn first(&mut self, _: &String, _: &mut Process<Self>) {}

    #[deadline]
    fn second(&mut self, _: &u32, _: &mut Process<Self>) {}
}

fn main() {}
