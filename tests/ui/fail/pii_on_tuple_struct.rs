// Personal-data fields are found by name in the stored JSON: a tuple struct has no names.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct CustomerRegistered(String, #[pii(subject = customer_id)] String);

fn main() {}
