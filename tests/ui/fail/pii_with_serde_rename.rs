// Sealed fields are found in the stored JSON by their Rust names: serde may not rename them.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct CustomerRegistered {
    pub customer_id: String,
    #[pii(subject = customer_id)]
    #[serde(rename = "mail")]
    pub email: String,
}

fn main() {}
