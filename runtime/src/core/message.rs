//! The message an event becomes on a broker, and the event a consumer reads back from one: one
//! format for every broker, so that what a relay publishes through RabbitMQ or NATS JetStream
//! is read back by the same code.
//!
//! **Topic.** `<aggregate>.<event type>`: the aggregate is the stream id up to its first `-`
//! (the aggregate's name, see [`stream_id`](crate::stream_id)), and each part is kept as it is
//! where it is made of ASCII letters, digits, `_` and `-`, every other byte written `%XX` (so a
//! `.` in an event type does not split the topic, and no `*`, `>`, `#` or space reaches a
//! broker). RabbitMQ uses it as the routing key; NATS puts the relay's subject prefix before it.
//!
//! **Headers** ([`header`]): the event's identity and place in the log, and its metadata, each as
//! text, with `%`, carriage return and line feed written `%25`, `%0D` and `%0A` (header formats
//! such as NATS's cannot carry line breaks; a stream id may hold any text). The body is the
//! event's JSON payload, unchanged.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::aggregate::aggregate_of;
use super::metadata::Metadata;
use super::store::RecordedEvent;
use super::tenant::is_valid_tenant;

/// The names of the headers every published event carries, each value text.
pub mod header {
    /// The event's id (also the broker's message id, by which it deduplicates).
    pub const EVENT_ID: &str = "chronicle-event-id";
    /// The event's stored type name.
    pub const EVENT_TYPE: &str = "chronicle-event-type";
    /// The version of the payload's shape.
    pub const EVENT_VERSION: &str = "chronicle-event-version";
    /// The stream the event belongs to.
    pub const STREAM_ID: &str = "chronicle-stream-id";
    /// The tenant whose stream it is; sent only when there is one (absent: none).
    pub const TENANT: &str = "chronicle-tenant";
    /// The event's version in its stream, from 1.
    pub const STREAM_VERSION: &str = "chronicle-stream-version";
    /// The event's position in the global log: what a receipt's `position` is compared with.
    pub const POSITION: &str = "chronicle-position";
    /// The writing transaction on Postgres (0 elsewhere).
    pub const TRANSACTION_ID: &str = "chronicle-transaction-id";
    /// When the store recorded it, RFC 3339.
    pub const RECORDED_AT: &str = "chronicle-recorded-at";
    /// The command that produced it.
    pub const COMMAND_ID: &str = "chronicle-command-id";
    /// The request or conversation it belongs to.
    pub const CORRELATION_ID: &str = "chronicle-correlation-id";
    /// What directly caused it.
    pub const CAUSATION_ID: &str = "chronicle-causation-id";
    /// Who asked for it, when known (absent otherwise).
    pub const ACTOR: &str = "chronicle-actor";
    /// The whole metadata as JSON, extra keys included: what a consumer reads it back from.
    pub const METADATA: &str = "chronicle-metadata";
}

/// An event as a broker message: its topic, headers and body.
#[derive(Debug, Clone)]
pub struct Message<'e> {
    /// The event it carries.
    pub event: &'e RecordedEvent,
    /// `<aggregate>.<event type>`, each part escaped (see the module docs).
    pub topic: String,
    /// `(name, value)` pairs, names from [`header`], values escaped (see the module docs).
    pub headers: Vec<(&'static str, String)>,
}

impl<'e> Message<'e> {
    /// The message that carries `event`.
    pub fn of(event: &'e RecordedEvent) -> Self {
        let metadata = &event.metadata;
        let mut headers = vec![
            (header::EVENT_ID, event.event_id.to_string()),
            (header::EVENT_TYPE, event.event_type.clone()),
            (header::EVENT_VERSION, event.event_version.to_string()),
            (header::STREAM_ID, event.stream_id.clone()),
            (header::STREAM_VERSION, event.stream_version.to_string()),
            (header::POSITION, event.position.to_string()),
            (header::TRANSACTION_ID, event.transaction_id.to_string()),
            (header::RECORDED_AT, event.recorded_at.to_rfc3339()),
            (header::COMMAND_ID, metadata.command_id.to_string()),
            (header::CORRELATION_ID, metadata.correlation_id.to_string()),
            (header::CAUSATION_ID, metadata.causation_id.to_string()),
        ];
        if let Some(actor) = &metadata.actor {
            headers.push((header::ACTOR, actor.clone()));
        }
        if !event.tenant.is_empty() {
            headers.push((header::TENANT, event.tenant.clone()));
        }
        // Serialising a struct of ids, strings and a JSON map cannot fail.
        let json = serde_json::to_string(metadata).unwrap_or_default();
        headers.push((header::METADATA, json));
        for (_, value) in &mut headers {
            if value.contains(['%', '\r', '\n']) {
                *value = escape_header(value);
            }
        }
        Self {
            event,
            topic: topic(&event.stream_id, &event.event_type),
            headers,
        }
    }

    /// The body: the payload's JSON text.
    pub fn body(&self) -> &'e [u8] {
        self.event.payload.get().as_bytes()
    }
}

/// The topic of an event of `event_type` in `stream_id`: `<aggregate>.<event type>`, escaped.
pub fn topic(stream_id: &str, event_type: &str) -> String {
    let aggregate = aggregate_of(stream_id);
    let mut topic = String::with_capacity(aggregate.len() + event_type.len() + 1);
    escape_into(&mut topic, aggregate);
    topic.push('.');
    escape_into(&mut topic, event_type);
    topic
}

/// One part of a topic as it is written: `name` with every byte that is not an ASCII letter,
/// digit, `_` or `-` written `%XX`. Bindings and filters name parts this way.
pub fn topic_part(name: &str) -> String {
    let mut part = String::with_capacity(name.len());
    escape_into(&mut part, name);
    part
}

fn escape_into(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

fn escape_header(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A header value as it was before [`escape_header`]; `None` when it is not one it wrote.
fn unescape_header(value: &str) -> Option<String> {
    if !value.contains('%') {
        return Some(value.to_owned());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3)?;
        out.push(match code {
            "25" => '%',
            "0D" => '\r',
            "0A" => '\n',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// A message that cannot be read back as an event, named by what of it could be read.
#[derive(Debug, thiserror::Error)]
#[error("message {} (type {}, version {}) is not a Chronicle event: {problem}", or_unknown(.event_id), or_unknown(.event_type), or_unknown(.event_version))]
#[non_exhaustive]
pub struct MessageError {
    /// Its event id header, when present.
    pub event_id: Option<String>,
    /// Its event type header, when present.
    pub event_type: Option<String>,
    /// Its event version header, when present.
    pub event_version: Option<String>,
    /// What is wrong with it.
    pub problem: String,
}

fn or_unknown(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("unknown")
}

/// Reads an event back from a message's headers (looked up by name with `header`) and body.
pub fn event_from(
    raw_header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<RecordedEvent, MessageError> {
    let header = |name: &str| raw_header(name).map(|value| unescape_header(&value).unwrap_or(value));
    let failure = |problem: String| MessageError {
        event_id: header(header::EVENT_ID),
        event_type: header(header::EVENT_TYPE),
        event_version: header(header::EVENT_VERSION),
        problem,
    };
    let text = |name: &'static str| header(name).ok_or_else(|| failure(format!("no `{name}` header")));
    fn parse<T: std::str::FromStr>(name: &str, value: String) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        value
            .parse()
            .map_err(|error| format!("header `{name}` = {value:?}: {error}"))
    }
    let number =
        |name: &'static str| text(name).and_then(|value| parse::<u64>(name, value).map_err(&failure));
    let event_id: Uuid = parse(header::EVENT_ID, text(header::EVENT_ID)?).map_err(&failure)?;
    let event_version: u32 = parse(header::EVENT_VERSION, text(header::EVENT_VERSION)?).map_err(&failure)?;
    let recorded_at: DateTime<Utc> =
        parse(header::RECORDED_AT, text(header::RECORDED_AT)?).map_err(&failure)?;
    let metadata: Metadata = serde_json::from_str(&text(header::METADATA)?)
        .map_err(|error| failure(format!("header `{}`: {error}", header::METADATA)))?;
    let body = std::str::from_utf8(body).map_err(|error| failure(format!("body is not UTF-8: {error}")))?;
    let payload = RawValue::from_string(body.to_owned())
        .map_err(|error| failure(format!("body is not JSON: {error}")))?;
    // Absent: no tenant. Present, it must be an id a store would have written.
    let tenant = match header(header::TENANT) {
        None => String::new(),
        Some(tenant) if is_valid_tenant(&tenant) => tenant,
        Some(tenant) => {
            return Err(failure(format!(
                "header `{}` = {tenant:?} is not a tenant id",
                header::TENANT
            )))
        }
    };
    Ok(RecordedEvent {
        position: number(header::POSITION)?,
        transaction_id: number(header::TRANSACTION_ID)?,
        tenant,
        stream_id: text(header::STREAM_ID)?,
        stream_version: number(header::STREAM_VERSION)?,
        event_id,
        event_type: text(header::EVENT_TYPE)?,
        event_version,
        payload,
        metadata,
        recorded_at,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn event(stream_id: &str, event_type: &str) -> RecordedEvent {
        RecordedEvent {
            position: 42,
            transaction_id: 7,
            tenant: "acme".to_owned(),
            stream_id: stream_id.to_owned(),
            stream_version: 3,
            event_id: Uuid::new_v4(),
            event_type: event_type.to_owned(),
            event_version: 2,
            payload: RawValue::from_string(r#"{"amount":5}"#.to_owned()).unwrap(),
            metadata: Metadata {
                command_id: Uuid::new_v4(),
                correlation_id: Uuid::new_v4(),
                causation_id: Uuid::new_v4(),
                actor: Some("ann\r\nsmith".to_owned()),
                extra: serde_json::Map::new(),
            },
            recorded_at: Utc::now(),
        }
    }

    #[test]
    fn topics_keep_one_dot_between_aggregate_and_type() {
        assert_eq!(topic("Order-5", "OrderPlaced"), "Order.OrderPlaced");
        assert_eq!(
            topic("Order-Line-5", "test.A b*>#"),
            "Order.test%2EA%20b%2A%3E%23"
        );
        assert_eq!(topic("plain", "T"), "plain.T");
        assert_eq!(topic_part("é"), "%C3%A9");
    }

    #[test]
    fn an_event_comes_back_from_its_message_unchanged() {
        let original = event("Order-5", "OrderPlaced");
        let message = Message::of(&original);
        let headers: HashMap<_, _> = message.headers.iter().cloned().collect();
        let back = event_from(|name| headers.get(name).cloned(), message.body()).unwrap();
        assert_eq!(back.event_id, original.event_id);
        assert_eq!(back.tenant, "acme");
        assert_eq!(back.position, 42);
        assert_eq!(back.transaction_id, 7);
        assert_eq!(back.stream_version, 3);
        assert_eq!(back.event_version, 2);
        assert_eq!(back.metadata, original.metadata);
        assert_eq!(back.recorded_at, original.recorded_at);
        assert_eq!(back.payload.get(), original.payload.get());
    }

    #[test]
    fn a_tenant_header_that_is_no_tenant_id_is_refused() {
        let original = event("Order-5", "OrderPlaced");
        let message = Message::of(&original);
        let mut headers: HashMap<_, _> = message.headers.iter().cloned().collect();
        headers.insert(header::TENANT, "acme'; drop table x; --".to_owned());
        let error = event_from(|name| headers.get(name).cloned(), message.body()).unwrap_err();
        assert!(error.problem.contains("is not a tenant id"), "{error}");
    }

    #[test]
    fn line_breaks_and_percent_signs_survive_the_headers() {
        let mut original = event("Order-a\r\nb%41", "OrderPlaced");
        original.metadata.actor = Some("100% ann\n".to_owned());
        let message = Message::of(&original);
        assert!(message
            .headers
            .iter()
            .all(|(_, value)| !value.contains(['\r', '\n'])));
        let headers: HashMap<_, _> = message.headers.iter().cloned().collect();
        assert_eq!(headers[header::STREAM_ID], "Order-a%0D%0Ab%2541");
        let back = event_from(|name| headers.get(name).cloned(), message.body()).unwrap();
        assert_eq!(back.stream_id, original.stream_id);
        assert_eq!(back.metadata.actor, original.metadata.actor);
    }

    #[test]
    fn a_broken_message_is_named_by_id_type_and_version() {
        let original = event("Order-5", "OrderPlaced");
        let message = Message::of(&original);
        let mut headers: HashMap<_, _> = message.headers.iter().cloned().collect();
        headers.remove(header::POSITION);
        let error = event_from(|name| headers.get(name).cloned(), b"{not json").unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&original.event_id.to_string()), "{text}");
        assert!(
            text.contains("OrderPlaced") && text.contains("version 2"),
            "{text}"
        );
        headers.insert(header::POSITION, "x".to_owned());
        let error = event_from(|name| headers.get(name).cloned(), b"{}").unwrap_err();
        assert!(error.problem.contains("chronicle-position"), "{error}");
    }
}
