// `#[pii]` has one key, `subject`; a misspelt one is named with the fix.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct CustomerRegistered {
    pub customer_id: String,
    #[pii(subjct = customer_id)]
    pub email: String,
}

fn main() {}
