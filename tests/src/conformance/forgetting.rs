//! Crypto-shredding on every store: `#[pii]` fields stored sealed, read back in the clear, and
//! after `forget` read redacted (aggregates, history, snapshots gone), new personal data of the
//! forgotten subject refused, and an altered envelope a typed error, never a panic.

use chronicle::prelude::*;
use chronicle::{KeyState, NewEvent, Subject, Tenant, FORGOTTEN};
use serde::{Deserialize, Serialize};

use crate::wait::{eventually, DEADLINE};

/// The email and phone are personal data of the customer the id names; the plan is not.
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(name = "crm.CustomerRegistered")]
pub struct CustomerRegistered {
    pub customer_id: String,
    #[pii(subject = customer_id)]
    pub email: String,
    #[pii(subject = customer_id)]
    pub phone: Option<String>,
    pub plan: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(name = "crm.CustomerMoved")]
pub struct CustomerMoved {
    pub customer_id: String,
    #[pii(subject = customer_id)]
    pub address: String,
}

#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(name = "crm.PlanChanged")]
pub struct PlanChanged {
    pub customer_id: String,
    pub plan: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Customer)]
pub struct Register {
    #[id]
    pub customer_id: String,
    pub email: String,
    pub phone: Option<String>,
    pub plan: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Customer)]
pub struct Move {
    #[id]
    pub customer_id: String,
    pub address: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Customer)]
pub struct ChangePlan {
    #[id]
    pub customer_id: String,
    pub plan: String,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

/// A customer; its state holds the personal data too, so its snapshots do.
#[derive(Default, Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Customer {
    pub email: String,
    pub phone: Option<String>,
    pub address: String,
    pub plan: String,
}

#[aggregate(name = "crm.Customer", snapshot_every = 2, snapshot_version = 1)]
impl Customer {
    #[handle]
    fn register(&self, command: &Register) -> Result<CustomerRegistered, Never> {
        Ok(CustomerRegistered {
            customer_id: command.customer_id.clone(),
            email: command.email.clone(),
            phone: command.phone.clone(),
            plan: command.plan.clone(),
        })
    }

    #[handle]
    fn move_to(&self, command: &Move) -> Result<CustomerMoved, Never> {
        Ok(CustomerMoved {
            customer_id: command.customer_id.clone(),
            address: command.address.clone(),
        })
    }

    #[handle]
    fn change_plan(&self, command: &ChangePlan) -> Result<PlanChanged, Never> {
        Ok(PlanChanged {
            customer_id: command.customer_id.clone(),
            plan: command.plan.clone(),
        })
    }

    #[apply]
    fn registered(&mut self, event: &CustomerRegistered) {
        self.email = event.email.clone();
        self.phone = event.phone.clone();
        self.plan = event.plan.clone();
    }

    #[apply]
    fn moved(&mut self, event: &CustomerMoved) {
        self.address = event.address.clone();
    }

    #[apply]
    fn plan_changed(&mut self, event: &PlanChanged) {
        self.plan = event.plan.clone();
    }
}

/// The personal data of customer `id`, as the tests write it and look for it.
pub fn email_of(id: &str) -> String {
    format!("{id}@mail.example")
}

/// The address of customer `id`.
pub fn address_of(id: &str) -> String {
    format!("{id} Privacy Lane")
}

/// Registers customer `id` and moves them once.
pub async fn register_and_move<S: EventStore>(chronicle: &Chronicle<S>, id: &str) {
    chronicle
        .execute(Register {
            customer_id: id.into(),
            email: email_of(id),
            phone: Some(format!("+41 {id}")),
            plan: "basic".into(),
        })
        .await
        .expect("register");
    chronicle
        .execute(Move {
            customer_id: id.into(),
            address: address_of(id),
        })
        .await
        .expect("move");
}

pub async fn personal_fields_are_stored_sealed_and_read_back_in_the_clear<S: EventStore>(store: S) {
    let chronicle = Chronicle::new(store.clone());
    register_and_move(&chronicle, "c-1").await;

    let stored = store.read_stream("crm.Customer-c-1", 0).await.unwrap();
    assert_eq!(stored.len(), 2);
    for event in &stored {
        let payload = event.payload.get();
        assert!(!payload.contains("c-1@mail"), "plaintext email stored: {payload}");
        assert!(
            !payload.contains("Privacy Lane"),
            "plaintext address stored: {payload}"
        );
        assert!(!payload.contains("+41"), "plaintext phone stored: {payload}");
        assert!(payload.contains("\"chronicle:pii\""), "{payload}");
    }
    let first: serde_json::Value = serde_json::from_str(stored[0].payload.get()).unwrap();
    assert_eq!(first["plan"], "basic", "the plan is not personal data");
    assert_eq!(first["customer_id"], "c-1", "the subject is stored in the clear");

    let loaded = Chronicle::new(store.clone())
        .load::<Customer>("c-1")
        .await
        .unwrap();
    assert_eq!(loaded.state.email, email_of("c-1"));
    assert_eq!(loaded.state.phone.as_deref(), Some("+41 c-1"));
    assert_eq!(loaded.state.address, address_of("c-1"));
    let history = chronicle.history::<Customer>("c-1").await.unwrap();
    match &history[0].event {
        CustomerEvent::CustomerRegistered(registered) => assert_eq!(registered.email, email_of("c-1")),
        other => panic!("unexpected {other:?}"),
    }
}

pub async fn a_forgotten_subject_reads_redacted_everywhere<S: EventStore>(store: S) {
    let chronicle = Chronicle::new(store.clone());
    register_and_move(&chronicle, "c-1").await;
    register_and_move(&chronicle, "c-2").await;
    // Two events each: the background snapshots hold the personal data in the clear.
    for stream in ["crm.Customer-c-1", "crm.Customer-c-2"] {
        eventually(stream, DEADLINE, || async {
            store.read_snapshot(stream).await.unwrap()
        })
        .await;
    }

    let forgotten = chronicle.forget("c-1").await.expect("forget");
    assert!(forgotten.key_destroyed);
    assert_eq!(forgotten.snapshots_deleted, 1, "the snapshot holding c-1's data");
    assert!(store.read_snapshot("crm.Customer-c-1").await.unwrap().is_none());
    assert!(
        store.read_snapshot("crm.Customer-c-2").await.unwrap().is_some(),
        "another subject's snapshot is kept"
    );

    // The same handle (its cache emptied) and a fresh one read the redacted state.
    for reader in [chronicle.clone(), Chronicle::new(store.clone())] {
        let loaded = reader
            .load::<Customer>("c-1")
            .await
            .expect("a forgotten aggregate loads");
        assert_eq!(
            loaded.state,
            Customer {
                email: FORGOTTEN.into(),
                phone: None,
                address: FORGOTTEN.into(),
                plan: "basic".into(),
            }
        );
    }
    let history = chronicle.history::<Customer>("c-1").await.unwrap();
    assert_eq!(history.len(), 2);
    match &history[0].event {
        CustomerEvent::CustomerRegistered(registered) => {
            assert_eq!(registered.email, FORGOTTEN);
            assert_eq!(registered.phone, None);
            assert_eq!(registered.plan, "basic");
        }
        other => panic!("unexpected {other:?}"),
    }
    let other = chronicle.load::<Customer>("c-2").await.unwrap();
    assert_eq!(other.state.email, email_of("c-2"), "another subject is untouched");

    // No new personal data of a forgotten subject; other commands on the aggregate go on.
    let refused = chronicle
        .execute(Move {
            customer_id: "c-1".into(),
            address: "elsewhere".into(),
        })
        .await;
    assert!(
        matches!(refused, Err(CommandError::Store(StoreError::SubjectForgotten { ref subject })) if subject == "c-1"),
        "{refused:?}"
    );
    chronicle
        .execute(ChangePlan {
            customer_id: "c-1".into(),
            plan: "pro".into(),
        })
        .await
        .expect("a command without personal data");
    assert_eq!(chronicle.load::<Customer>("c-1").await.unwrap().state.plan, "pro");

    let again = chronicle.forget("c-1").await.unwrap();
    assert!(!again.key_destroyed, "forgetting twice destroys nothing more");
}

pub async fn an_altered_envelope_is_a_typed_error<S: EventStore>(store: S) {
    let chronicle = Chronicle::new(store.clone());
    register_and_move(&chronicle, "c-1").await;
    let stored = store.read_stream("crm.Customer-c-1", 0).await.unwrap();
    let mut payload: serde_json::Value = serde_json::from_str(stored[0].payload.get()).unwrap();
    let sealed = payload["email"]["chronicle:pii"]["sealed"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if sealed.starts_with('A') { "B" } else { "A" };
    payload["email"]["chronicle:pii"]["sealed"] = format!("{flipped}{}", &sealed[1..]).into();
    let append = |id: &'static str, payload: serde_json::Value| {
        let store = store.clone();
        async move {
            store
                .append(
                    &format!("crm.Customer-{id}"),
                    0,
                    vec![NewEvent {
                        event_id: uuid::Uuid::new_v4(),
                        event_type: "crm.CustomerRegistered",
                        event_version: 1,
                        payload: serde_json::value::to_raw_value(&payload).unwrap(),
                        metadata: super::events::metadata(uuid::Uuid::new_v4()),
                    }],
                )
                .await
                .unwrap();
        }
    };
    append("c-9", payload.clone()).await;
    match chronicle.load::<Customer>("c-9").await {
        Err(StoreError::Sealed {
            field: "email",
            reason,
            ..
        }) => {
            assert!(reason.contains("does not open"), "{reason}")
        }
        other => panic!("expected a sealed-field error, got {other:?}"),
    }
    // An envelope for a subject the key store has never seen.
    payload["email"]["chronicle:pii"]["subject"] = "nobody".into();
    append("c-8", payload).await;
    match chronicle.history::<Customer>("c-8").await {
        Err(StoreError::Sealed {
            field: "email",
            reason,
            ..
        }) => assert!(reason.contains("no key"), "{reason}"),
        other => panic!("expected a sealed-field error, got {other:?}"),
    }
}

pub async fn a_subject_id_in_two_tenants_is_two_subjects<S: EventStore>(store: S) {
    let tenant = |id: &str| Chronicle::new(store.clone()).for_tenant(Tenant::new(id).unwrap());
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    // The same customer id, the same commands, in both tenants.
    register_and_move(&acme, "c-1").await;
    register_and_move(&globex, "c-1").await;
    for bound in [acme.store(), globex.store()] {
        eventually("a snapshot in each tenant", DEADLINE, || async {
            bound.read_snapshot("crm.Customer-c-1").await.unwrap()
        })
        .await;
    }

    let forgotten = acme.forget("c-1").await.expect("forget in acme");
    assert!(forgotten.key_destroyed);
    assert_eq!(forgotten.snapshots_deleted, 1, "acme's snapshot only");
    assert!(acme
        .store()
        .read_snapshot("crm.Customer-c-1")
        .await
        .unwrap()
        .is_none());
    assert!(
        globex
            .store()
            .read_snapshot("crm.Customer-c-1")
            .await
            .unwrap()
            .is_some(),
        "globex's snapshot of its own c-1 is kept"
    );

    let in_acme = tenant("acme").load::<Customer>("c-1").await.unwrap();
    assert_eq!(in_acme.state.email, FORGOTTEN);
    let in_globex = tenant("globex").load::<Customer>("c-1").await.unwrap();
    assert_eq!(
        in_globex.state.email,
        email_of("c-1"),
        "globex's customer c-1 is another person"
    );
    // Globex may still record personal data of its c-1; acme may not.
    globex
        .execute(Move {
            customer_id: "c-1".into(),
            address: "elsewhere".into(),
        })
        .await
        .expect("globex's c-1 is not forgotten");
    assert!(matches!(
        acme.execute(Move {
            customer_id: "c-1".into(),
            address: "elsewhere".into(),
        })
        .await,
        Err(CommandError::Store(StoreError::SubjectForgotten { .. }))
    ));
    // The key store holds a key per tenant and id.
    let keys = log_keys(&store);
    let found = keys
        .keys(&[
            Subject::new(Tenant::new("acme").unwrap(), "c-1"),
            Subject::new(Tenant::new("globex").unwrap(), "c-1"),
            Subject::new(Tenant::none(), "c-1"),
        ])
        .await
        .unwrap();
    assert_eq!(found.len(), 2, "no tenant's c-1 has no key: {found:?}");
    assert_eq!(
        found[&Subject::new(Tenant::new("acme").unwrap(), "c-1")],
        KeyState::Forgotten
    );
    assert!(matches!(
        found[&Subject::new(Tenant::new("globex").unwrap(), "c-1")],
        KeyState::Active(_)
    ));
    // The whole log, as a tool reads it: each event's sealed fields judged by its own tenant's key.
    let mut events = store.read_all(0, 100).await.unwrap();
    assert_eq!(events.len(), 5);
    chronicle::mask_sealed(&mut events, Some(&*keys)).await;
    for event in events.iter().filter(|e| e.event_type == "crm.CustomerRegistered") {
        let payload: serde_json::Value = serde_json::from_str(event.payload.get()).unwrap();
        let expected = match event.tenant.as_str() {
            "acme" => FORGOTTEN,
            "globex" => chronicle::ENCRYPTED,
            other => panic!("an event of tenant {other:?}"),
        };
        assert_eq!(payload["email"], expected, "{}", event.tenant);
    }
}

/// The key store of `store` (every conformance store has one of its own).
fn log_keys<S: EventStore>(store: &S) -> chronicle::SharedKeyStore {
    store.key_store().expect("the store keeps keys")
}
