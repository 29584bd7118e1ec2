//! What every store accepts as input: the rules for aggregate names and stream ids, and for the
//! text of payloads and metadata.
//!
//! An aggregate's events form the stream `"{NAME}-{id}"` ([`stream_id`](crate::stream_id)). The
//! name comes first and may not contain `-`, so the first `-` of a stream id always ends the
//! aggregate's name (the convention of KurrentDB's categories): the aggregate `Order` with id
//! `Line-5` is `Order-Line-5`, and no aggregate can be named `Order-Line`. `#[aggregate]` rejects
//! such a name where it is written; a hand-written `Aggregate` impl with one fails to compile
//! where it is first used.
//!
//! The limits are defined here once and checked before any store sees the input, so that every
//! store accepts and refuses the same things with the same typed error.

use serde_json::value::RawValue;
use serde_json::Value;

use super::error::StoreError;
use super::metadata::Metadata;

/// The longest stream id any store accepts, in bytes (Postgres indexes the id with the stream
/// version, and an index entry must fit a third of a page).
pub const MAX_STREAM_ID_BYTES: usize = 1024;

/// Whether `name` can name an aggregate: not empty, and without the `-` that separates the name
/// from the id in a stream id.
pub const fn is_valid_aggregate_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'-' {
            return false;
        }
        i += 1;
    }
    true
}

/// Checks a stream id against the limits every store keeps: not empty, at most
/// [`MAX_STREAM_ID_BYTES`] bytes, no NUL character. Fails with [`StoreError::InvalidStreamId`].
pub fn check_stream_id(stream_id: &str) -> Result<(), StoreError> {
    let reason = if stream_id.is_empty() {
        "a stream id cannot be empty"
    } else if stream_id.len() > MAX_STREAM_ID_BYTES {
        "a stream id has at most 1024 bytes"
    } else if stream_id.contains('\0') {
        "a stream id cannot contain a NUL character"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidStreamId {
        stream_id: stream_id.chars().take(80).collect(),
        reason,
    })
}

/// Checks an event about to be appended: its payload and metadata hold no NUL character (no SQL
/// store can keep one in text). Fails with [`StoreError::InvalidEvent`].
pub(crate) fn check_event(
    event_type: &'static str,
    payload: &RawValue,
    metadata: &Metadata,
) -> Result<(), StoreError> {
    let invalid = |reason| StoreError::InvalidEvent { event_type, reason };
    if event_type.contains('\0') {
        return Err(invalid("its stored name contains a NUL character"));
    }
    if json_has_nul(payload.get()) {
        return Err(invalid("its payload contains a NUL character (`\\u0000`)"));
    }
    if metadata_has_nul(metadata) {
        return Err(invalid("its metadata contains a NUL character"));
    }
    Ok(())
}

/// Whether JSON text holds the escape `\u0000`: one preceded by an odd number of backslashes
/// (`\\u0000` is a backslash followed by the text `u0000`).
fn json_has_nul(json: &str) -> bool {
    json.match_indices("u0000").any(|(at, _)| {
        let backslashes = json[..at].bytes().rev().take_while(|b| *b == b'\\').count();
        backslashes % 2 == 1
    })
}

fn metadata_has_nul(metadata: &Metadata) -> bool {
    metadata
        .actor
        .as_deref()
        .is_some_and(|actor| actor.contains('\0'))
        || metadata
            .extra
            .iter()
            .any(|(key, value)| key.contains('\0') || value_has_nul(value))
}

fn value_has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(value_has_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || value_has_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_names() {
        assert!(is_valid_aggregate_name("bank.Account"));
        assert!(is_valid_aggregate_name("order_line"));
        assert!(!is_valid_aggregate_name("Order-Line"));
        assert!(!is_valid_aggregate_name(""));
    }

    #[test]
    fn stream_id_limits() {
        assert!(check_stream_id("bank.Account-a-1").is_ok());
        assert!(check_stream_id(&"x".repeat(MAX_STREAM_ID_BYTES)).is_ok());
        for bad in [
            String::new(),
            "x".repeat(MAX_STREAM_ID_BYTES + 1),
            "a\0b".to_owned(),
        ] {
            assert!(
                matches!(check_stream_id(&bad), Err(StoreError::InvalidStreamId { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nul_escapes_in_json() {
        assert!(json_has_nul(r#"{"a":"x\u0000y"}"#));
        assert!(json_has_nul(r#"{"a":"\\\u0000"}"#));
        assert!(!json_has_nul(r#"{"a":"\\u0000"}"#));
        assert!(!json_has_nul(r#"{"u0000":1}"#));
        let encoded = serde_json::to_string(&serde_json::json!({ "text": "a\u{0}b" })).unwrap();
        assert!(json_has_nul(&encoded));
    }
}
