// A process manager reacting to events of two aggregates, each correlated by its own field,
// with a typed rejection handler and a deadline.
#[path = "../domain.rs"]
mod domain;

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::testing::ProcessTest;
use domain::*;
use serde::{Deserialize, Serialize};

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Checkout {
    order_id: String,
    paid: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CheckoutDeadline {
    PaymentDue,
}

#[process_manager(name = "checkout", commands(TakePayment, CancelOrder))]
impl Checkout {
    #[on(correlate = order_id)]
    fn placed(&mut self, event: &OrderPlaced, process: &mut Process<Self>) {
        self.order_id = event.order_id.clone();
        process.send(TakePayment {
            payment_id: format!("p-{}", event.order_id),
            order_id: event.order_id.clone(),
        });
        process.schedule(Duration::from_secs(900), CheckoutDeadline::PaymentDue);
    }

    #[on(correlate = order_id)]
    fn paid(&mut self, _: &PaymentTaken, process: &mut Process<Self>) {
        self.paid = true;
        process.cancel(CheckoutDeadline::PaymentDue);
        process.finish();
    }

    #[rejected]
    fn payment_refused(&mut self, _: &TakePayment, _: &Refused, process: &mut Process<Self>) {
        process.send(CancelOrder {
            order_id: self.order_id.clone(),
        });
        process.finish();
    }

    #[deadline]
    fn due(&mut self, _: &CheckoutDeadline, process: &mut Process<Self>) {
        process.send(CancelOrder {
            order_id: self.order_id.clone(),
        });
    }
}

fn main() {
    let mut test = ProcessTest::<Checkout>::new();
    let then = test
        .when(OrderPlaced {
            order_id: "o1".to_owned(),
            amount: 5,
        })
        .unwrap();
    then.then_schedules([(Duration::from_secs(900), CheckoutDeadline::PaymentDue)]);
    let _: &[CheckoutCommand] = then.commands();
    assert_eq!(<Checkout as ProcessManager>::NAME, "checkout");
    assert_eq!(<Checkout as ProcessManager>::STEP_EVENT, "checkout.step");
}
