// The subject is stored in the clear (the key is found by it): it cannot itself be personal data.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct CustomerRegistered {
    #[pii(subject = customer_id)]
    pub email: String,
    #[pii(subject = email)]
    pub customer_id: String,
}

fn main() {}
