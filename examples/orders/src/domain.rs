//! The write side of the order example: the textbook order aggregate.

// ANCHOR: events
use chronicle::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A customer opened an order.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "shop.OrderCreated")]
pub struct OrderCreated {
    pub order_id: String,
    pub customer: String,
}

/// An item was put into an order.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "shop.ItemAdded")]
pub struct ItemAdded {
    pub order_id: String,
    pub sku: String,
    pub quantity: u32,
    pub unit_price_cents: i64,
}

/// The order left the warehouse.
#[derive(Event, Serialize, Deserialize, JsonSchema, Debug, Clone)]
#[event(name = "shop.OrderShipped")]
pub struct OrderShipped {
    pub order_id: String,
    pub carrier: String,
}
// ANCHOR_END: events

/// Create an order for a customer.
#[derive(Command, Debug, Clone)]
#[command(aggregate = Order)]
pub struct CreateOrder {
    #[id]
    pub order_id: String,
    pub customer: String,
}

/// Add an item to an open order.
#[derive(Command, Debug, Clone)]
#[command(aggregate = Order)]
pub struct AddItem {
    #[id]
    pub order_id: String,
    pub sku: String,
    pub quantity: u32,
    pub unit_price_cents: i64,
}

/// Ship an order that has items.
#[derive(Command, Debug, Clone)]
#[command(aggregate = Order)]
pub struct ShipOrder {
    #[id]
    pub order_id: String,
    pub carrier: String,
}

/// Why an order refuses a command.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum OrderError {
    #[error("order {0} already exists")]
    AlreadyExists(String),
    #[error("order {0} does not exist")]
    Unknown(String),
    #[error("order {0} has shipped and can no longer change")]
    AlreadyShipped(String),
    #[error("order {0} has no items to ship")]
    Empty(String),
    #[error("quantities must be at least 1")]
    NoQuantity,
}

/// An order's state: only what its rules need.
#[derive(Default, Clone, Debug)]
pub struct Order {
    created: bool,
    items: u32,
    shipped: bool,
}

#[aggregate(name = "shop.Order")]
impl Order {
    #[handle]
    fn create(&self, command: CreateOrder) -> Result<OrderCreated, OrderError> {
        if self.created {
            return Err(OrderError::AlreadyExists(command.order_id));
        }
        Ok(OrderCreated {
            order_id: command.order_id,
            customer: command.customer,
        })
    }

    #[handle]
    fn add_item(&self, command: AddItem) -> Result<ItemAdded, OrderError> {
        self.ensure_open(&command.order_id)?;
        if command.quantity == 0 {
            return Err(OrderError::NoQuantity);
        }
        Ok(ItemAdded {
            order_id: command.order_id,
            sku: command.sku,
            quantity: command.quantity,
            unit_price_cents: command.unit_price_cents,
        })
    }

    #[handle]
    fn ship(&self, command: ShipOrder) -> Result<OrderShipped, OrderError> {
        self.ensure_open(&command.order_id)?;
        if self.items == 0 {
            return Err(OrderError::Empty(command.order_id));
        }
        Ok(OrderShipped {
            order_id: command.order_id,
            carrier: command.carrier,
        })
    }

    #[apply]
    fn created(&mut self, _: &OrderCreated) {
        self.created = true;
    }

    #[apply]
    fn item_added(&mut self, event: &ItemAdded) {
        self.items += event.quantity;
    }

    #[apply]
    fn shipped(&mut self, _: &OrderShipped) {
        self.shipped = true;
    }

    fn ensure_open(&self, order_id: &str) -> Result<(), OrderError> {
        match (self.created, self.shipped) {
            (false, _) => Err(OrderError::Unknown(order_id.to_owned())),
            (true, true) => Err(OrderError::AlreadyShipped(order_id.to_owned())),
            (true, false) => Ok(()),
        }
    }
}
