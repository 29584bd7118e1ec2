// `subject` names no field of the struct, nor one close to it: the fields are listed.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct CustomerRegistered {
    pub customer_id: String,
    #[pii(subject = person)]
    pub email: String,
}

fn main() {}
