//! What the fuzz targets share: an aggregate whose events have an upcast chain (the shapes of
//! `tests/src/conformance/upcasting.rs`), so that decoding goes through generated code exactly as
//! an application's does, and a way to cut a fuzzer's bytes into several strings.

use chronicle::prelude::*;
use serde::{Deserialize, Serialize};

/// Version 1 of `wallet.Credited`: cents, always euros.
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(name = "wallet.Credited", version = 1)]
pub struct CreditedV1 {
    /// The wallet.
    pub wallet_id: String,
    /// The amount, in euro cents.
    pub cents: i64,
}

/// Version 2 added the currency.
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(name = "wallet.Credited", version = 2, upcast_from = CreditedV1)]
pub struct CreditedV2 {
    /// The wallet.
    pub wallet_id: String,
    /// The amount, in cents.
    pub cents: i64,
    /// Its currency.
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

/// Version 3, the current shape: a money value and an optional note.
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(name = "wallet.Credited", version = 3, upcast_from = CreditedV2)]
pub struct Credited {
    /// The wallet.
    pub wallet_id: String,
    /// How much.
    pub amount: Money,
    /// Why, when said.
    pub note: Option<String>,
}

/// An amount of one currency.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Money {
    /// In cents.
    pub cents: i64,
    /// The currency's code.
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

/// An event at version 2 that never kept its first shape.
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(name = "wallet.Opened", version = 2)]
pub struct Opened {
    /// The wallet.
    pub wallet_id: String,
}

/// The one command: credits a wallet.
#[derive(Command, Debug, Clone)]
#[command(aggregate = Wallet)]
pub struct Credit {
    /// The wallet.
    #[id]
    pub wallet_id: String,
    /// How much.
    pub cents: i64,
}

/// Never returned.
#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

/// A wallet: the sum of its credits.
#[derive(Default, Clone, Debug)]
pub struct Wallet {
    /// Cents, whatever the currency.
    pub cents: i64,
}

#[aggregate(name = "wallet.Wallet")]
impl Wallet {
    #[handle]
    fn credit(&self, command: &Credit) -> Result<Credited, Never> {
        Ok(Credited {
            wallet_id: command.wallet_id.clone(),
            amount: Money {
                cents: command.cents,
                currency: "EUR".to_owned(),
            },
            note: None,
        })
    }

    #[apply]
    fn credited(&mut self, event: &Credited) {
        self.cents = self.cents.wrapping_add(event.amount.cents);
    }

    #[apply]
    fn opened(&mut self, _: &Opened) {}
}

/// The fuzzer's bytes cut at each NUL byte into (lossily decoded) strings: several inputs from one
/// byte string, which libFuzzer's dictionary and mutations handle better than a structure.
pub fn split_strings(data: &[u8], parts: usize) -> Vec<String> {
    let mut strings: Vec<String> = data
        .splitn(parts, |byte| *byte == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    strings.resize(parts, String::new());
    strings
}

/// Fixed metadata, for inputs whose own does not read.
pub fn some_metadata() -> chronicle::Metadata {
    let id = uuid::Uuid::from_u128(7);
    chronicle::Metadata {
        command_id: id,
        correlation_id: id,
        causation_id: id,
        actor: None,
        extra: serde_json::Map::new(),
    }
}

/// Panics unless `a` and `b` are the same metadata. Numbers in `extra` are compared by kind, not
/// value: serde_json's default float parsing may read a written float one unit in the last place
/// off, which is serde_json's, not Chronicle's.
pub fn assert_same_metadata(a: &chronicle::Metadata, b: &chronicle::Metadata) {
    assert_eq!(
        (a.command_id, a.correlation_id, a.causation_id, &a.actor),
        (b.command_id, b.correlation_id, b.causation_id, &b.actor)
    );
    assert_eq!(a.extra.len(), b.extra.len());
    for ((key_a, value_a), (key_b, value_b)) in a.extra.iter().zip(&b.extra) {
        assert_eq!(key_a, key_b);
        assert!(same_json(value_a, value_b), "{value_a} != {value_b}");
    }
}

fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.is_f64() == b.is_f64() && (a.is_f64() || a == b),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_json(va, vb))
        }
        (a, b) => a == b,
    }
}
