use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct LineAdded {
    pub quantity: u32,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = OrderLine)]
pub struct AddLine {
    #[id]
    pub line_id: String,
    pub quantity: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("closed")]
pub struct Closed;

#[derive(Default, Clone, Debug)]
pub struct OrderLine {
    quantity: u32,
}

#[aggregate(name = "Order-Line")]
impl OrderLine {
    #[handle]
    fn add(&self, command: AddLine) -> Result<LineAdded, Closed> {
        Ok(LineAdded {
            quantity: command.quantity,
        })
    }

    #[apply]
    fn added(&mut self, event: &LineAdded) {
        self.quantity += event.quantity;
    }
}

fn main() {}
