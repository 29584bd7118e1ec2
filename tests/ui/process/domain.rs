// The domain every case of `ui/process` shares: two aggregates whose events a process manager
// reacts to, and the commands it sends.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct OrderPlaced {
    pub order_id: String,
    pub amount: i64,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct PaymentTaken {
    pub payment_id: String,
    pub order_id: String,
}

#[derive(Command, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[command(aggregate = Order)]
pub struct PlaceOrder {
    #[id]
    pub order_id: String,
    pub amount: i64,
}

#[derive(Command, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[command(aggregate = Order)]
pub struct CancelOrder {
    #[id]
    pub order_id: String,
}

#[derive(Command, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[command(aggregate = Payment)]
pub struct TakePayment {
    #[id]
    pub payment_id: String,
    pub order_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("refused")]
pub struct Refused;

#[derive(Default, Clone, Debug)]
pub struct Order;

#[aggregate]
impl Order {
    #[handle]
    fn place(&self, command: &PlaceOrder) -> Result<OrderPlaced, Refused> {
        Ok(OrderPlaced {
            order_id: command.order_id.clone(),
            amount: command.amount,
        })
    }

    #[handle]
    fn cancel(&self, _: &CancelOrder) -> Result<(), Refused> {
        Ok(())
    }

    #[apply]
    fn placed(&mut self, _: &OrderPlaced) {}
}

#[derive(Default, Clone, Debug)]
pub struct Payment;

#[aggregate]
impl Payment {
    #[handle]
    fn take(&self, command: &TakePayment) -> Result<PaymentTaken, Refused> {
        Ok(PaymentTaken {
            payment_id: command.payment_id.clone(),
            order_id: command.order_id.clone(),
        })
    }

    #[apply]
    fn taken(&mut self, _: &PaymentTaken) {}
}
