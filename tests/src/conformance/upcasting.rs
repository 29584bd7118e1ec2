//! Event evolution: rows stored in older shapes are read through today's types.
//!
//! The rows are real: written as version 1 and 2 JSON through the store's own `append`, then read
//! by code whose event is at version 3.

use chronicle::prelude::*;
use chronicle::{NewEvent, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

// ANCHOR: chain
/// Version 1, as first shipped: an amount in cents, always euros.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "wallet.Credited", version = 1)]
pub struct CreditedV1 {
    pub wallet_id: String,
    pub cents: i64,
}

/// Version 2 added the currency.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "wallet.Credited", version = 2, upcast_from = CreditedV1)]
pub struct CreditedV2 {
    pub wallet_id: String,
    pub cents: i64,
    pub currency: String,
}

impl From<CreditedV1> for CreditedV2 {
    fn from(v1: CreditedV1) -> Self {
        Self {
            wallet_id: v1.wallet_id,
            cents: v1.cents,
            currency: "EUR".to_owned(),
        }
    }
}

/// Version 3, today's shape: a money value and an optional note.
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(name = "wallet.Credited", version = 3, upcast_from = CreditedV2)]
pub struct Credited {
    pub wallet_id: String,
    pub amount: Money,
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Money {
    pub cents: i64,
    pub currency: String,
}

impl From<CreditedV2> for Credited {
    fn from(v2: CreditedV2) -> Self {
        Self {
            wallet_id: v2.wallet_id,
            amount: Money {
                cents: v2.cents,
                currency: v2.currency,
            },
            note: None,
        }
    }
}
// ANCHOR_END: chain

/// An event at version 2 that never kept its first shape: stored version 1 rows are unreadable.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "wallet.Opened", version = 2)]
pub struct Opened {
    pub wallet_id: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Wallet)]
pub struct Credit {
    #[id]
    pub wallet_id: String,
    pub cents: i64,
    pub currency: String,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

#[derive(Default, Clone, Debug)]
pub struct Wallet {
    /// Cents per currency, in the order first seen.
    balances: Vec<(String, i64)>,
}

#[aggregate(name = "wallet.Wallet")]
impl Wallet {
    #[handle]
    fn credit(&self, command: &Credit) -> Result<Credited, Never> {
        Ok(Credited {
            wallet_id: command.wallet_id.clone(),
            amount: Money {
                cents: command.cents,
                currency: command.currency.clone(),
            },
            note: Some("by command".into()),
        })
    }

    #[apply]
    fn credited(&mut self, event: &Credited) {
        match self
            .balances
            .iter_mut()
            .find(|(c, _)| *c == event.amount.currency)
        {
            Some((_, cents)) => *cents += event.amount.cents,
            None => self
                .balances
                .push((event.amount.currency.clone(), event.amount.cents)),
        }
    }

    #[apply]
    fn opened(&mut self, _: &Opened) {}
}

/// A row as an older version of the program wrote it: stored name, version and JSON.
fn stored(event_type: &'static str, version: u32, payload: serde_json::Value) -> NewEvent {
    let command_id = Uuid::new_v4();
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type,
        event_version: version,
        payload: serde_json::value::to_raw_value(&payload).unwrap(),
        metadata: chronicle::Metadata {
            command_id,
            correlation_id: command_id,
            causation_id: command_id,
            actor: Some("legacy-importer".into()),
            extra: Default::default(),
        },
    }
}

pub async fn version_1_and_2_rows_are_read_through_the_version_3_type<S: EventStore>(store: S) {
    assert_eq!(
        (Credited::OLDEST_VERSION, Credited::VERSION),
        (1, 3),
        "the chain reaches back to version 1"
    );
    let stream = "wallet.Wallet-w-1";
    store
        .append(
            stream,
            0,
            vec![stored(
                "wallet.Credited",
                1,
                json!({"wallet_id": "w-1", "cents": 500}),
            )],
        )
        .await
        .unwrap();
    store
        .append(
            stream,
            1,
            vec![stored(
                "wallet.Credited",
                2,
                json!({"wallet_id": "w-1", "cents": 700, "currency": "USD"}),
            )],
        )
        .await
        .unwrap();
    let app = Chronicle::new(store.clone());

    let wallet = app.load::<Wallet>("w-1").await.unwrap();
    assert_eq!(
        wallet.state.balances,
        [("EUR".to_owned(), 500), ("USD".to_owned(), 700)]
    );

    // Today's code appends version 3 after the old rows.
    app.execute(Credit {
        wallet_id: "w-1".into(),
        cents: 25,
        currency: "EUR".into(),
    })
    .await
    .unwrap();
    let history = app.history::<Wallet>("w-1").await.unwrap();
    let stored_versions: Vec<u32> = history.iter().map(|e| e.event_version).collect();
    assert_eq!(
        stored_versions,
        [1, 2, 3],
        "rows keep the version they were stored with"
    );
    let events: Vec<Credited> = history
        .into_iter()
        .map(|e| match e.event {
            WalletEvent::Credited(credited) => credited,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        events[0],
        Credited {
            wallet_id: "w-1".into(),
            amount: Money {
                cents: 500,
                currency: "EUR".into()
            },
            note: None,
        }
    );
    assert_eq!(events[1].amount.currency, "USD");
    assert_eq!(events[2].note.as_deref(), Some("by command"));

    // The stored rows were not rewritten: upcasting happens on read.
    let rows = store.read_stream(stream, 0).await.unwrap();
    let raw: serde_json::Value = serde_json::from_str(rows[0].payload.get()).unwrap();
    assert_eq!(raw, json!({"wallet_id": "w-1", "cents": 500}));
    assert_eq!(rows[2].event_version, 3);

    let wallet = app.load::<Wallet>("w-1").await.unwrap();
    assert_eq!((wallet.state.balances[0].1, wallet.version), (525, 3));
}

pub async fn a_version_without_an_upcast_path_is_a_typed_error<S: EventStore>(store: S) {
    let app = Chronicle::new(store.clone());
    // Newer than the program.
    store
        .append(
            "wallet.Wallet-w-2",
            0,
            vec![stored("wallet.Credited", 4, json!({"wallet_id": "w-2"}))],
        )
        .await
        .unwrap();
    let error = app.load::<Wallet>("w-2").await.unwrap_err();
    let message = error.to_string();
    match error {
        StoreError::UnknownEventVersion {
            position: _,
            stream_id,
            stream_version: 1,
            event_type,
            event_version: 4,
            rust_type,
            oldest: 1,
            current: 3,
        } => {
            assert_eq!(
                (stream_id.as_str(), event_type.as_str()),
                ("wallet.Wallet-w-2", "wallet.Credited")
            );
            assert!(rust_type.ends_with("Credited"), "{rust_type}");
        }
        other => panic!("expected UnknownEventVersion, got {other:?}"),
    }
    assert!(
        message.contains("`wallet.Credited` version 4")
            && message.contains("reads versions 1 to 3")
            && message.contains("newer version of the program"),
        "{message}"
    );

    // Older than the chain goes: `Opened` is at version 2 and kept no version 1.
    store
        .append(
            "wallet.Wallet-w-3",
            0,
            vec![stored("wallet.Opened", 1, json!({"wallet_id": "w-3"}))],
        )
        .await
        .unwrap();
    let error = app.load::<Wallet>("w-3").await.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            StoreError::UnknownEventVersion {
                event_version: 1,
                oldest: 2,
                current: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        message.contains("reads version 2 only") && message.contains("upcast_from"),
        "{message}"
    );

    // An old row whose JSON does not match its old shape is undecodable, not mis-read.
    store
        .append(
            "wallet.Wallet-w-4",
            0,
            vec![stored(
                "wallet.Credited",
                1,
                json!({"wallet_id": "w-4", "cents": "lots"}),
            )],
        )
        .await
        .unwrap();
    let error = app.load::<Wallet>("w-4").await.unwrap_err();
    assert!(
        matches!(error, StoreError::Undecodable { event_version: 1, .. }),
        "{error:?}"
    );
}

// ANCHOR: rename
/// The code as it was: the event struct was called `ItemAdded`.
mod before {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    #[event(name = "shop.ItemAdded")]
    pub struct ItemAdded {
        pub sku: String,
    }

    #[derive(Default, Clone, Debug)]
    pub struct Cart {
        pub items: Vec<String>,
    }

    #[aggregate(name = "shop.Cart")]
    impl Cart {
        #[apply]
        fn added(&mut self, event: &ItemAdded) {
            self.items.push(event.sku.clone());
        }
    }
}

/// The code now: the struct is `ProductAdded`, and its stored name is still pinned.
mod after {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    #[event(name = "shop.ItemAdded")]
    pub struct ProductAdded {
        pub sku: String,
    }

    #[derive(Default, Clone, Debug)]
    pub struct Cart {
        pub products: Vec<String>,
    }

    #[aggregate(name = "shop.Cart")]
    impl Cart {
        #[apply]
        fn added(&mut self, event: &ProductAdded) {
            self.products.push(event.sku.clone());
        }
    }
}
// ANCHOR_END: rename

pub async fn renaming_a_struct_keeps_reading_old_rows_when_its_name_is_pinned<S: EventStore>(store: S) {
    use chronicle::EventSet;

    // Rows written by the old code, through the store, exactly as it encoded them.
    let old: Vec<before::CartEvent> = vec![
        before::ItemAdded { sku: "apple".into() }.into(),
        before::ItemAdded { sku: "pear".into() }.into(),
    ];
    let rows = old
        .iter()
        .map(|event| {
            let mut row = stored(event.event_type(), event.event_version(), json!(null));
            row.payload = event.to_payload().unwrap();
            row
        })
        .collect();
    store.append("shop.Cart-c-1", 0, rows).await.unwrap();
    assert_eq!(
        Chronicle::new(store.clone())
            .load::<before::Cart>("c-1")
            .await
            .unwrap()
            .state
            .items,
        ["apple", "pear"]
    );

    let cart = Chronicle::new(store).load::<after::Cart>("c-1").await.unwrap();
    assert_eq!(cart.state.products, ["apple", "pear"]);
    assert_eq!(cart.version, 2);
}
