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
    fn placed(&mut self, event: &OrderPlaced, _: &mut Process<Self>) -> Vec<TakePayment> {
        vec![TakePayment {
            payment_id: event.order_id.clone(),
            order_id: event.order_id.clone(),
        }]
    }
}

fn main() {}
