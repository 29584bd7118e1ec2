#[path = "../domain.rs"]
mod domain;

use chronicle::prelude::*;
use domain::*;
use serde::{Deserialize, Serialize};

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Checkout;

#[process_manager(name = "check-out", commands(TakePayment))]
impl Checkout {
    #[on]
    fn placed(&self, _: &OrderPlaced, _: &mut Process<Self>) {}

    #[rejected]
    async fn cancel_refused(&mut self, _: &CancelOrder, _: &Refused, _: &mut Process<Self>) {}
}

fn main() {}
