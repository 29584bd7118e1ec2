// Personal-data fields of every redactable kind, a numeric subject, a type of one's own with
// its own placeholder, and an aggregate applying the event.
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Email(String);

impl chronicle::Redact for Email {
    fn redacted() -> Self {
        Email("forgotten@invalid".into())
    }
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
pub struct CustomerRegistered {
    pub customer_id: u64,
    #[pii(subject = customer_id)]
    pub name: String,
    #[pii(subject = customer_id)]
    pub phone: Option<String>,
    #[pii(subject = customer_id)]
    pub addresses: Vec<String>,
    #[pii(subject = customer_id)]
    pub email: Email,
    pub plan: String,
}

#[derive(Default, Clone, Debug)]
pub struct Customer;

#[aggregate]
impl Customer {
    #[apply]
    fn registered(&mut self, _event: &CustomerRegistered) {}
}

fn main() {
    use chronicle::Event as _;
    assert_eq!(CustomerRegistered::PII.len(), 4);
    assert_eq!(CustomerRegistered::PII[0].subject, "customer_id");
    let email = CustomerRegistered::redacted("email").unwrap().unwrap();
    assert_eq!(email, serde_json::json!("forgotten@invalid"));
    assert_eq!(CustomerRegistered::redacted("phone").unwrap().unwrap(), serde_json::Value::Null);
    assert!(CustomerRegistered::redacted("plan").is_none());
}
