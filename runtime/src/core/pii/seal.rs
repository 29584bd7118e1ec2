//! Sealing one field's JSON value under a subject's key, and opening it again: AES-256-GCM with a
//! random 96-bit nonce per field, the subject, event type and field name as associated data (so
//! a sealed value moved to another field, event type or subject does not open).

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::keys::SubjectKey;
use super::SEALED_KEY;

/// The envelope format's version, stored as `"v"`.
const FORMAT: u64 = 1;

/// Why an envelope did not open (the subject's key is there, but the envelope is not one it
/// sealed, or is not an envelope at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The envelope lacks a part, or a part is not what the format says.
    #[error("the sealed field's envelope is malformed: {0}")]
    Malformed(&'static str),
    /// The envelope's format version is not one this program reads.
    #[error("the sealed field's envelope has format version {0}, this program reads version 1")]
    UnknownFormat(u64),
    /// Authentication failed: the ciphertext, nonce, subject, event type or field was altered, or
    /// another key sealed it.
    #[error(
        "the sealed field does not open with its subject's key (altered, moved, or sealed by another key)"
    )]
    Tampered,
    /// What opened is not JSON (cannot happen for what Chronicle sealed).
    #[error("the sealed field's plaintext is not JSON")]
    NotJson,
}

/// A new random key, from the operating system's generator.
pub fn generate_key() -> SubjectKey {
    SubjectKey::from_bytes(Aes256Gcm::generate_key(OsRng).into())
}

/// The associated data of a field: what it may not be moved away from.
fn associated_data(subject: &str, event_type: &str, field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(subject.len() + event_type.len() + field.len() + 2);
    for (index, part) in [subject, event_type, field].into_iter().enumerate() {
        if index > 0 {
            aad.push(0);
        }
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// `value` sealed under `key`: the envelope object that is stored in its place.
pub fn seal(key: &SubjectKey, subject: &str, event_type: &str, field: &str, value: &Value) -> Value {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.bytes()));
    let nonce = Aes256Gcm::generate_nonce(OsRng);
    let plaintext = value.to_string();
    let aad = associated_data(subject, event_type, field);
    // AES-GCM fails only past 64 GiB of plaintext, which no event reaches.
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext.as_bytes(),
                aad: &aad,
            },
        )
        .unwrap_or_default();
    json!({ SEALED_KEY: {
        "v": FORMAT,
        "subject": subject,
        "nonce": BASE64.encode(nonce),
        "sealed": BASE64.encode(sealed),
    }})
}

/// The subject an envelope names, if `value` is an envelope.
pub fn sealed_subject(value: &Value) -> Option<&str> {
    value.as_object()?.get(SEALED_KEY)?.get("subject")?.as_str()
}

/// The inside of an envelope, if `value` is one (an object whose only key is [`SEALED_KEY`]).
pub fn envelope(value: &Value) -> Option<&Map<String, Value>> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.get(SEALED_KEY)?.as_object()
}

/// Opens the envelope `inside` (see [`envelope`]) of `field` of an `event_type` event with the
/// subject's key.
pub fn open(
    key: &SubjectKey,
    inside: &Map<String, Value>,
    event_type: &str,
    field: &str,
) -> Result<Value, OpenError> {
    let text = |name: &'static str| {
        inside
            .get(name)
            .and_then(Value::as_str)
            .ok_or(OpenError::Malformed(name))
    };
    match inside.get("v").and_then(Value::as_u64) {
        Some(FORMAT) => {}
        Some(other) => return Err(OpenError::UnknownFormat(other)),
        None => return Err(OpenError::Malformed("v")),
    }
    let subject = text("subject")?;
    let nonce = BASE64
        .decode(text("nonce")?)
        .map_err(|_| OpenError::Malformed("nonce"))?;
    if nonce.len() != 12 {
        return Err(OpenError::Malformed("nonce"));
    }
    let sealed = BASE64
        .decode(text("sealed")?)
        .map_err(|_| OpenError::Malformed("sealed"))?;
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.bytes()));
    let aad = associated_data(subject, event_type, field);
    let plaintext = cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &sealed,
                aad: &aad,
            },
        )
        .map_err(|_| OpenError::Tampered)?;
    serde_json::from_slice(&plaintext).map_err(|_| OpenError::NotJson)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_email(key: &SubjectKey) -> Value {
        seal(
            key,
            "c-1",
            "CustomerRegistered",
            "email",
            &json!("ada@example.com"),
        )
    }

    fn open_email(
        key: &SubjectKey,
        value: &Value,
        event_type: &str,
        field: &str,
    ) -> Result<Value, OpenError> {
        open(key, envelope(value).expect("an envelope"), event_type, field)
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_hides_the_plaintext() {
        let key = generate_key();
        let sealed = sealed_email(&key);
        assert!(!sealed.to_string().contains("ada@"), "{sealed}");
        assert_eq!(sealed_subject(&sealed), Some("c-1"));
        assert_eq!(
            open_email(&key, &sealed, "CustomerRegistered", "email"),
            Ok(json!("ada@example.com"))
        );
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let key = generate_key();
        assert_ne!(sealed_email(&key), sealed_email(&key));
    }

    #[test]
    fn another_key_field_or_event_type_does_not_open_it() {
        let key = generate_key();
        let sealed = sealed_email(&key);
        assert_eq!(
            open_email(&generate_key(), &sealed, "CustomerRegistered", "email"),
            Err(OpenError::Tampered)
        );
        assert_eq!(
            open_email(&key, &sealed, "CustomerRegistered", "name"),
            Err(OpenError::Tampered)
        );
        assert_eq!(
            open_email(&key, &sealed, "CustomerMoved", "email"),
            Err(OpenError::Tampered)
        );
    }

    #[test]
    fn altered_envelopes_are_refused_with_a_reason() {
        let key = generate_key();
        let sealed = sealed_email(&key);
        let altered = |part: &str, value: Value| {
            let mut copy = sealed.clone();
            copy[SEALED_KEY][part] = value;
            open_email(&key, &copy, "CustomerRegistered", "email")
        };
        assert_eq!(altered("subject", json!("c-2")), Err(OpenError::Tampered));
        let mut bytes = BASE64
            .decode(sealed[SEALED_KEY]["sealed"].as_str().unwrap())
            .unwrap();
        bytes[0] ^= 1;
        assert_eq!(
            altered("sealed", json!(BASE64.encode(&bytes))),
            Err(OpenError::Tampered)
        );
        assert_eq!(
            altered("sealed", json!("not base64!")),
            Err(OpenError::Malformed("sealed"))
        );
        assert_eq!(
            altered("nonce", json!(BASE64.encode([0u8; 5]))),
            Err(OpenError::Malformed("nonce"))
        );
        assert_eq!(altered("nonce", json!(7)), Err(OpenError::Malformed("nonce")));
        assert_eq!(altered("v", json!(2)), Err(OpenError::UnknownFormat(2)));
        assert_eq!(altered("v", Value::Null), Err(OpenError::Malformed("v")));
    }

    #[test]
    fn only_a_lone_envelope_key_is_an_envelope() {
        assert!(envelope(&json!({ SEALED_KEY: {}, "other": 1 })).is_none());
        assert!(envelope(&json!({ SEALED_KEY: "text" })).is_none());
        assert!(envelope(&json!("text")).is_none());
    }
}
