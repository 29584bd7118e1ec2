// `#[pii]` alone does not say whose data the field is.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct CustomerRegistered {
    pub customer_id: String,
    #[pii]
    pub email: String,
}

fn main() {}
