// A `#[pii]` field's type must say what it reads as once forgotten: `u32` has no `Redact`.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct CustomerRegistered {
    pub customer_id: String,
    #[pii(subject = customer_id)]
    pub birth_year: u32,
}

fn main() {}
