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
use super::tenant::TENANT_SEPARATOR;

/// The longest stream id any store accepts, in bytes (Postgres indexes the id with the stream
/// version, and an index entry must fit a third of a page).
pub const MAX_STREAM_ID_BYTES: usize = 1024;

/// The largest payload any store accepts, in bytes of its JSON text: 16 MiB. Postgres could keep
/// more (a `jsonb` value holds up to 255 MB), SQLite less only if built so; the bound keeps every
/// store the same, and a command's events whole in memory, in one round trip and in one broker
/// message of RabbitMQ's default size. (NATS JetStream carries 1 MB by default: a relay to it
/// needs a server with a larger `max_payload` for events above that.)
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

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

/// The longest name of a projection, relay or consumer, in bytes: every read store keeps it with
/// the suffixes Chronicle adds to it (`/v<N>`, `/live`, `/<index>-of-<count>`) in its checkpoint
/// table, and MariaDB's column holds 512 bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// The rule the name of a projection, relay or consumer breaks, if any: it is not empty, has at
/// most [`MAX_NAME_BYTES`] bytes and no NUL character. Any other text is kept as it is: every
/// store binds a name as a value, never splices it into a statement or a key pattern.
/// [`check_name`](crate::check_name) turns a broken rule into the read stores' error.
pub(crate) fn broken_name_rule(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a name cannot be empty")
    } else if name.len() > MAX_NAME_BYTES {
        Some("a name has at most 256 bytes (MAX_NAME_BYTES)")
    } else if name.contains('\0') {
        Some("a name cannot contain a NUL character")
    } else {
        None
    }
}

/// The longest error text a dead letter keeps, in bytes: a handler's error may echo a whole
/// payload, and a letter is listed with others.
pub const MAX_DEAD_LETTER_ERROR_BYTES: usize = 64 * 1024;

/// A handler's error text as every read store can keep it in a dead letter: each NUL character
/// (which no SQL store keeps in text) written `\0`, and cut to [`MAX_DEAD_LETTER_ERROR_BYTES`]
/// on a character boundary, saying so. A dead letter is recorded whatever its handler said.
pub(crate) fn storable_error(text: String) -> String {
    const CUT: &str = " [cut: the error was longer]";
    let mut text = if text.contains('\0') {
        text.replace('\0', "\\0")
    } else {
        text
    };
    if text.len() > MAX_DEAD_LETTER_ERROR_BYTES {
        let mut end = MAX_DEAD_LETTER_ERROR_BYTES - CUT.len();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(CUT);
    }
    text
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
    } else if stream_id.contains(TENANT_SEPARATOR) {
        "a stream id cannot contain U+001F (the unit separator), which separates a tenant from a stream id in keys"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidStreamId {
        stream_id: stream_id.chars().take(80).collect(),
        reason,
    })
}

/// Checks an event about to be appended: its payload is at most [`MAX_PAYLOAD_BYTES`] and holds
/// no escape that no store can keep as text (`\u0000`, a lone UTF-16 surrogate such as
/// `\ud800`, which Postgres' `jsonb` refuses and the others would keep), and its metadata holds
/// no NUL character. Fails with [`StoreError::InvalidEvent`].
pub(crate) fn check_event(
    event_type: &'static str,
    payload: &RawValue,
    metadata: &Metadata,
) -> Result<(), StoreError> {
    let invalid = |reason| StoreError::InvalidEvent { event_type, reason };
    if event_type.contains('\0') {
        return Err(invalid("its stored name contains a NUL character"));
    }
    if payload.get().len() > MAX_PAYLOAD_BYTES {
        return Err(invalid(
            "its payload is larger than MAX_PAYLOAD_BYTES (16 MiB of JSON text)",
        ));
    }
    match bad_escape(payload.get()) {
        Some(BadEscape::Nul) => return Err(invalid("its payload contains a NUL character (`\\u0000`)")),
        Some(BadEscape::LoneSurrogate) => return Err(invalid(
            "its payload contains a lone UTF-16 surrogate escape (such as `\\ud800`), which is no character",
        )),
        None => {}
    }
    if metadata_has_nul(metadata) {
        return Err(invalid("its metadata contains a NUL character"));
    }
    Ok(())
}

/// An escape in JSON text that no store can keep as text.
#[derive(Debug, PartialEq, Eq)]
enum BadEscape {
    /// `\u0000`.
    Nul,
    /// A high surrogate not followed by a low one, or a low one alone.
    LoneSurrogate,
}

/// The first escape of valid JSON text that stands for no character a store can keep. Escapes
/// occur only inside strings in valid JSON, so every backslash starts one: `\\u0000` is an
/// escaped backslash followed by the text `u0000`.
fn bad_escape(json: &str) -> Option<BadEscape> {
    let bytes = json.as_bytes();
    let mut at = 0;
    // Whether the escape just read was a high surrogate, which a low one must follow at once.
    let mut high = false;
    while at < bytes.len() {
        if bytes[at] != b'\\' {
            if high {
                return Some(BadEscape::LoneSurrogate);
            }
            at += 1;
            continue;
        }
        if bytes.get(at + 1) != Some(&b'u') {
            if high {
                return Some(BadEscape::LoneSurrogate);
            }
            at += 2;
            continue;
        }
        let code = json
            .get(at + 2..at + 6)
            .and_then(|hex| u16::from_str_radix(hex, 16).ok());
        at += 6;
        match code {
            Some(0) => return Some(BadEscape::Nul),
            Some(0xD800..=0xDBFF) if !high => high = true,
            Some(0xDC00..=0xDFFF) if high => high = false,
            Some(0xD800..=0xDFFF) => return Some(BadEscape::LoneSurrogate),
            _ if high => return Some(BadEscape::LoneSurrogate),
            _ => {}
        }
    }
    high.then_some(BadEscape::LoneSurrogate)
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
    fn names() {
        for ok in [
            "bank.balances",
            "O'Brien \"x\"; drop table t; --",
            "\u{1f980}",
            &"n".repeat(MAX_NAME_BYTES),
        ] {
            assert_eq!(broken_name_rule(ok), None, "{ok}");
        }
        for bad in [String::new(), "n".repeat(MAX_NAME_BYTES + 1), "a\0b".into()] {
            assert!(broken_name_rule(&bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn dead_letter_errors() {
        assert_eq!(storable_error("plain".into()), "plain");
        assert_eq!(storable_error("a\0b".into()), "a\\0b");
        let long = storable_error("\u{1f980}".repeat(MAX_DEAD_LETTER_ERROR_BYTES));
        assert!(long.len() <= MAX_DEAD_LETTER_ERROR_BYTES, "{}", long.len());
        assert!(long.ends_with("[cut: the error was longer]"));
        let exact = "e".repeat(MAX_DEAD_LETTER_ERROR_BYTES);
        assert_eq!(storable_error(exact.clone()), exact);
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
        let nul = Some(BadEscape::Nul);
        assert_eq!(bad_escape(r#"{"a":"x\u0000y"}"#), nul);
        assert_eq!(bad_escape(r#"{"a":"\\\u0000"}"#), nul);
        assert_eq!(bad_escape(r#"{"a":"\\u0000"}"#), None);
        assert_eq!(bad_escape(r#"{"u0000":1}"#), None);
        let encoded = serde_json::to_string(&serde_json::json!({ "text": "a\u{0}b" })).unwrap();
        assert_eq!(bad_escape(&encoded), nul);
    }

    #[test]
    fn surrogate_escapes_in_json() {
        let lone = Some(BadEscape::LoneSurrogate);
        // A pair is one character (U+1F980), in either case of hex digits.
        assert_eq!(bad_escape(r#""\ud83e\udd80""#), None);
        assert_eq!(bad_escape(r#""\uD83E\uDD80 \u00e9 \n""#), None);
        for alone in [
            r#""\ud800""#,
            r#""\ud800x""#,
            r#""\ud800\n""#,
            r#""\ud800\u0041""#,
            r#""\udc00""#,
            r#""x\udfff\ud800""#,
            r#""\ud83e\ud83e\udd80""#,
        ] {
            assert_eq!(bad_escape(alone), lone, "{alone}");
        }
        // An escaped backslash followed by text that only looks like an escape.
        assert_eq!(bad_escape(r#""\\ud800""#), None);
    }
}
