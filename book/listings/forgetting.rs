//! The book's crypto-shredding (forgetting chapter): personal data marked on an event, and a
//! person forgotten.

use chronicle::prelude::*;
use chronicle::FORGOTTEN;
use serde::{Deserialize, Serialize};

// ANCHOR: event
/// The email and the phone number are the customer's personal data: stored sealed under the
/// customer's key. The id names the person (the data subject) and stays in the clear.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "crm.CustomerRegistered")]
pub struct CustomerRegistered {
    pub customer_id: String,
    #[pii(subject = customer_id)]
    pub email: String,
    #[pii(subject = customer_id)]
    pub phone: Option<String>,
    pub plan: String,
}
// ANCHOR_END: event

#[derive(Command, Debug, Clone)]
#[command(aggregate = Customer)]
pub struct Register {
    #[id]
    pub customer_id: String,
    pub email: String,
    pub phone: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

#[derive(Default, Clone, Debug)]
pub struct Customer {
    pub email: String,
    pub phone: Option<String>,
}

#[aggregate(name = "crm.Customer")]
impl Customer {
    #[handle]
    fn register(&self, command: &Register) -> Result<CustomerRegistered, Never> {
        Ok(CustomerRegistered {
            customer_id: command.customer_id.clone(),
            email: command.email.clone(),
            phone: command.phone.clone(),
            plan: "basic".into(),
        })
    }

    #[apply]
    fn registered(&mut self, event: &CustomerRegistered) {
        self.email = event.email.clone();
        self.phone = event.phone.clone();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_customer_reads_redacted() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryStore::new();
    let chronicle = Chronicle::new(store.clone());
    chronicle
        .execute(Register {
            customer_id: "c-42".into(),
            email: "ada@example.com".into(),
            phone: Some("+41 00 000 00 00".into()),
        })
        .await?;
    // ANCHOR: forget
    let forgotten = chronicle.forget("c-42").await?;
    assert!(forgotten.key_destroyed);

    let customer = chronicle.load::<Customer>("c-42").await?.state;
    assert_eq!(customer.email, FORGOTTEN); // "[forgotten]"
    assert_eq!(customer.phone, None);
    // ANCHOR_END: forget
    let refused = chronicle
        .execute(Register {
            customer_id: "c-42".into(),
            email: "ada@example.org".into(),
            phone: None,
        })
        .await;
    assert!(matches!(
        refused,
        Err(CommandError::Store(StoreError::SubjectForgotten { .. }))
    ));
    Ok(())
}
