//! Crypto-shredding: personal data in events sealed under a key per data subject, so that
//! forgetting a person is destroying one key, in an append-only log.
//!
//! A field marked `#[pii(subject = customer_id)]` in a `#[derive(Event)]` struct is stored as a
//! self-describing envelope ([`seal`]): `{"chronicle:pii": {"v": 1, "subject": "...", "nonce":
//! "<base64>", "sealed": "<base64>"}}`, AES-256-GCM under the subject's key, the subject, event
//! type and field name bound as associated data. The keys live in a [`KeyStore`](keys::KeyStore)
//! apart from the events. Reading ([`payload`]) first replaces every envelope of a batch by its
//! plaintext (one key lookup per batch), or by a marker when the subject was forgotten or the
//! envelope does not open; decoding then puts the field type's [`Redact`] value in place of a
//! forgotten field.
//!
//! This file holds what the parts share: the field list generated code declares, [`Redact`],
//! and the envelope's names.

pub mod keys;
pub mod payload;
pub mod seal;

/// A personal-data field of an event, as `#[pii(subject = ...)]` declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiField {
    /// The field's name in the payload.
    pub field: &'static str,
    /// The name of the field whose value is the data subject (the person the data is about).
    pub subject: &'static str,
}

/// What a personal-data field reads as once its subject was forgotten: `None` for an `Option`,
/// [`FORGOTTEN`] for a `String`, empty for a `Vec`.
///
/// `#[pii]` requires it of the field's type; implement it for your own types (an email address
/// newtype, say) to choose their placeholder.
#[diagnostic::on_unimplemented(
    message = "`#[pii]` field of type `{Self}` cannot be redacted",
    label = "`{Self}` does not implement `chronicle::Redact`",
    note = "a forgotten subject's fields are read back as `Redact::redacted()`: use `String` (read as \"[forgotten]\"), `Option<T>` (read as `None`) or `Vec<T>` (empty), or `impl chronicle::Redact for {Self}`"
)]
pub trait Redact {
    /// The value a forgotten field is read back as.
    fn redacted() -> Self;
}

/// The placeholder a forgotten `String` field reads as.
pub const FORGOTTEN: &str = "[forgotten]";

impl Redact for String {
    fn redacted() -> Self {
        FORGOTTEN.to_owned()
    }
}

impl<T> Redact for Option<T> {
    fn redacted() -> Self {
        None
    }
}

impl<T> Redact for Vec<T> {
    fn redacted() -> Self {
        Vec::new()
    }
}

/// The key of a sealed field's envelope object.
pub const SEALED_KEY: &str = "chronicle:pii";
/// The key of the marker a forgotten subject's field is replaced by when read.
pub const FORGOTTEN_KEY: &str = "chronicle:forgotten";
/// The key of the marker an envelope that does not open is replaced by when read.
pub const UNREADABLE_KEY: &str = "chronicle:unreadable";
