// `#[pii]` marks a field, not the whole event.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[pii(subject = customer_id)]
pub struct CustomerRegistered {
    pub customer_id: String,
    pub email: String,
}

fn main() {}
