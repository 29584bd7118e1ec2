//! The book's evolving-events listings: a renamed struct that keeps reading its rows, and a chain
//! of upcasters; and the check of the error message the chapter quotes.

// ANCHOR: rename
/// The code as it was: the event struct was called `ItemAdded`.
mod before {
    use chronicle::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    #[event(name = "shop.ItemAdded")]
    pub struct ItemAdded {
        pub sku: String,
    }

    #[derive(Command, Debug, Clone)]
    #[command(aggregate = Cart)]
    pub struct AddItem {
        #[id]
        pub cart_id: String,
        pub sku: String,
    }

    #[derive(Default, Clone)]
    pub struct Cart;

    #[aggregate(name = "shop.Cart")]
    impl Cart {
        #[handle]
        fn add(&self, command: &AddItem) -> Result<ItemAdded, std::convert::Infallible> {
            Ok(ItemAdded {
                sku: command.sku.clone(),
            })
        }

        #[apply]
        fn added(&mut self, _event: &ItemAdded) {}
    }
}

/// The code now: the struct is `ProductAdded`, and its stored name is still the one it was pinned to.
mod after {
    use chronicle::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    #[event(name = "shop.ItemAdded")]
    pub struct ProductAdded {
        pub sku: String,
    }

    #[derive(Default, Clone)]
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

// ANCHOR: chain
use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

/// Version 1, as first shipped: an amount in cents, always euros.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "wallet.Credited", version = 1)]
pub struct CreditedV1 {
    pub cents: i64,
}

/// Version 2 added the currency.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "wallet.Credited", version = 2, upcast_from = CreditedV1)]
pub struct CreditedV2 {
    pub cents: i64,
    pub currency: String,
}

impl From<CreditedV1> for CreditedV2 {
    fn from(v1: CreditedV1) -> Self {
        Self {
            cents: v1.cents,
            currency: "EUR".to_owned(),
        }
    }
}

/// Version 3, today's shape: a money value and an optional note.
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(name = "wallet.Credited", version = 3, upcast_from = CreditedV2)]
pub struct Credited {
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
            amount: Money {
                cents: v2.cents,
                currency: v2.currency,
            },
            note: None,
        }
    }
}

#[derive(Default, Clone)]
pub struct Wallet {
    pub credits: Vec<Credited>,
}

#[aggregate(name = "wallet.Wallet")]
impl Wallet {
    #[apply]
    fn credited(&mut self, event: &Credited) {
        self.credits.push(event.clone());
    }
}
// ANCHOR_END: chain

/// A stored row, as some version of the program wrote it.
fn row(event_type: &'static str, event_version: u32, payload: &str) -> chronicle::NewEvent {
    let command_id = uuid::Uuid::new_v4();
    chronicle::NewEvent {
        event_id: uuid::Uuid::new_v4(),
        event_type,
        event_version,
        payload: serde_json::value::RawValue::from_string(payload.to_owned()).unwrap(),
        metadata: chronicle::Metadata {
            command_id,
            correlation_id: command_id,
            causation_id: command_id,
            actor: None,
            extra: Default::default(),
        },
    }
}

#[tokio::test]
async fn a_renamed_struct_reads_the_rows_of_its_old_name() {
    let store = MemoryStore::new();
    let old = Chronicle::new(store.clone());
    for sku in ["apple", "pear"] {
        let add = before::AddItem {
            cart_id: "c-1".into(),
            sku: sku.into(),
        };
        old.execute(add).await.unwrap();
    }
    let cart = Chronicle::new(store).load::<after::Cart>("c-1").await.unwrap();
    assert_eq!(cart.state.products, ["apple", "pear"]);
}

#[tokio::test]
async fn rows_of_every_version_are_read_as_todays_shape() {
    let store = MemoryStore::new();
    let rows = vec![
        row("wallet.Credited", 1, r#"{"cents": 100}"#),
        row("wallet.Credited", 2, r#"{"cents": 200, "currency": "CHF"}"#),
        row(
            "wallet.Credited",
            3,
            r#"{"amount": {"cents": 300, "currency": "USD"}, "note": "tip"}"#,
        ),
    ];
    store.append("wallet.Wallet-w-1", 0, rows).await.unwrap();
    let wallet = Chronicle::new(store).load::<Wallet>("w-1").await.unwrap();
    let amounts: Vec<_> = wallet
        .state
        .credits
        .iter()
        .map(|c| (c.amount.cents, c.amount.currency.as_str(), c.note.as_deref()))
        .collect();
    assert_eq!(
        amounts,
        [(100, "EUR", None), (200, "CHF", None), (300, "USD", Some("tip"))]
    );
}

/// The chapter's complete example, repeated, to check the message it quotes.
mod probe {
    use chronicle::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    #[event(name = "lab.Measured", version = 1)]
    pub struct MeasuredV1 {
        pub fahrenheit: f64,
    }

    #[derive(Event, Serialize, Deserialize, Debug, Clone)]
    #[event(name = "lab.Measured", version = 2, upcast_from = MeasuredV1)]
    pub struct Measured {
        pub celsius: f64,
    }

    impl From<MeasuredV1> for Measured {
        fn from(v1: MeasuredV1) -> Self {
            Self {
                celsius: (v1.fahrenheit - 32.0) * 5.0 / 9.0,
            }
        }
    }

    #[derive(Default, Clone)]
    pub struct Probe;

    #[aggregate(name = "lab.Probe")]
    impl Probe {
        #[apply]
        fn measured(&mut self, _event: &Measured) {}
    }

    #[tokio::test]
    async fn the_quoted_message_is_what_a_newer_row_gives() {
        let store = MemoryStore::new();
        let rows = vec![
            super::row("lab.Measured", 1, r#"{"fahrenheit": 212.0}"#),
            super::row("lab.Measured", 3, r#"{"kelvin": 373.15}"#),
        ];
        store.append("lab.Probe-p-1", 0, rows).await.unwrap();
        let Err(error) = Chronicle::new(store).load::<Probe>("p-1").await else {
            panic!("a row newer than the code cannot be read");
        };
        assert!(
            matches!(error, StoreError::UnknownEventVersion { .. }),
            "{error:?}"
        );
        // In the book, the program's crate is called `my_app`.
        let message = error.to_string().replace(module_path!(), "my_app");
        let chapter = crate::chapter("evolving-events.md");
        assert!(
            crate::text_blocks(&chapter).any(|block| block == message),
            "evolving-events.md should quote the message as it is now:\n{message}"
        );
    }
}
