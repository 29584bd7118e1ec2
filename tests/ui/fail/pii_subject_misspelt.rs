// `subject` names a field that does not exist: the closest field is suggested.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct CustomerRegistered {
    pub customer_id: String,
    #[pii(subject = custmer_id)]
    pub email: String,
}

fn main() {}
