//! Broker messages read back as events (`chronicle::message::event_from`, what the RabbitMQ and
//! NATS subscribers call on every delivery), and events written as messages (`Message::of`).
//!
//! Input: a first byte choosing the mode, then NUL-separated strings.
//! - Mode "hostile" (even byte): the body, then header name/value pairs, as a broker could
//!   deliver them from anyone. Reading never panics; what reads is written as a message again
//!   and reads back the same (a consumer's event can be published on unchanged).
//! - Mode "published" (odd byte): a stream id, event type, actor, an extra metadata key and value
//!   and a payload string make an event; its message has one-line headers and a topic of plain
//!   characters with one `.`, whose parts read back as the aggregate and the type; the event
//!   reads back from the message unchanged.

#![no_main]

use std::collections::HashMap;

use chronicle::message::{event_from, header, topic_part, Message};
use chronicle::{aggregate_of, Metadata, RecordedEvent};
use chronicle_fuzz::{assert_same_metadata, split_strings};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    if mode % 2 == 0 {
        hostile(rest);
    } else {
        published(rest);
    }
});

fn hostile(data: &[u8]) {
    let mut parts = data.split(|byte| *byte == 0);
    let body = parts.next().unwrap_or_default().to_vec();
    let mut headers: HashMap<String, String> = HashMap::new();
    let strings: Vec<String> = parts
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    for pair in strings.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        headers.entry(expand(&pair[0])).or_insert(value);
    }
    match event_from(|name| headers.get(name).cloned(), &body) {
        Ok(event) => {
            let (again, message) = republished(&event);
            assert_eq!(again.tenant, event.tenant);
            assert_eq!(again.stream_id, event.stream_id);
            assert_eq!(again.event_type, event.event_type);
            assert_eq!(
                (
                    again.event_id,
                    again.event_version,
                    again.position,
                    again.stream_version
                ),
                (
                    event.event_id,
                    event.event_version,
                    event.position,
                    event.stream_version
                )
            );
            assert_eq!(again.transaction_id, event.transaction_id);
            assert_eq!(again.recorded_at, event.recorded_at);
            assert_eq!(again.payload.get(), event.payload.get());
            assert_same_metadata(&again.metadata, &event.metadata);
            assert_eq!(message.body(), body.as_slice());
        }
        Err(error) => {
            assert!(!error.problem.is_empty());
            let _ = error.to_string();
        }
    }
}

/// Short names for the headers, so that the fuzzer reaches them: `#3` is the fourth header.
fn expand(name: &str) -> String {
    const NAMES: [&str; 13] = [
        header::EVENT_ID,
        header::EVENT_TYPE,
        header::EVENT_VERSION,
        header::STREAM_ID,
        header::STREAM_VERSION,
        header::POSITION,
        header::TRANSACTION_ID,
        header::RECORDED_AT,
        header::COMMAND_ID,
        header::CORRELATION_ID,
        header::CAUSATION_ID,
        header::ACTOR,
        header::METADATA,
    ];
    name.strip_prefix('#')
        .and_then(|index| index.parse::<usize>().ok())
        .and_then(|index| NAMES.get(index))
        .map_or_else(|| name.to_owned(), |name| (*name).to_owned())
}

/// `event` written as a message and read back from it.
fn republished(event: &RecordedEvent) -> (RecordedEvent, Message<'_>) {
    let message = Message::of(event);
    for (name, value) in &message.headers {
        assert!(
            !value.contains(['\r', '\n']),
            "header {name} = {value:?} spans lines"
        );
    }
    let headers: HashMap<&str, String> = message.headers.iter().cloned().collect();
    assert_eq!(headers.len(), message.headers.len(), "a header is written once");
    let again = event_from(|name| headers.get(name).cloned(), message.body())
        .unwrap_or_else(|error| panic!("a written message reads back: {error}"));
    (again, message)
}

fn published(data: &[u8]) {
    let [numbers, rest @ ..] = data else {
        return;
    };
    let [stream_id, event_type, actor, key, value, text] =
        <[String; 6]>::try_from(split_strings(rest, 6)).unwrap();
    let payload = serde_json::json!({ "text": text, "n": numbers });
    let mut extra = serde_json::Map::new();
    if !key.is_empty() {
        extra.insert(key, serde_json::Value::String(value));
    }
    let event = RecordedEvent {
        position: u64::from(*numbers) << 40 | 3,
        transaction_id: u64::MAX - u64::from(*numbers),
        // Tenants come from the store, checked by `Tenant::new`: none, or a plain id.
        tenant: ["", "acme", "t-1.x"][usize::from(*numbers % 3)].to_owned(),
        stream_id,
        stream_version: 1 + u64::from(*numbers),
        event_id: Uuid::from_u128(u128::from(*numbers) * 0x1234_5678_9abc),
        event_type,
        event_version: u32::from(*numbers),
        payload: RawValue::from_string(payload.to_string()).unwrap(),
        metadata: Metadata {
            command_id: Uuid::from_u128(1),
            correlation_id: Uuid::from_u128(2),
            causation_id: Uuid::from_u128(3),
            actor: (numbers % 2 == 1).then_some(actor),
            extra,
        },
        recorded_at: chrono::DateTime::from_timestamp(
            1_700_000_000 + i64::from(*numbers) * 86_400,
            123_456_789,
        )
        .unwrap(),
    };
    let (again, message) = republished(&event);
    assert_eq!(again.tenant, event.tenant, "the tenant travels in its header");
    assert_eq!(again.stream_id, event.stream_id);
    assert_eq!(again.event_type, event.event_type);
    assert_eq!(again.metadata, event.metadata);
    assert_eq!(again.payload.get(), event.payload.get());
    assert_eq!(
        (
            again.event_id,
            again.event_version,
            again.position,
            again.stream_version
        ),
        (
            event.event_id,
            event.event_version,
            event.position,
            event.stream_version
        )
    );
    assert_eq!(
        (again.transaction_id, again.recorded_at),
        (event.transaction_id, event.recorded_at)
    );

    let topic = &message.topic;
    assert!(
        topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-%.".contains(&b)),
        "topic {topic:?} has a character a broker treats specially"
    );
    let (aggregate, event_type) = topic.split_once('.').expect("a topic has a dot");
    assert!(!event_type.contains('.'), "topic {topic:?} has one dot");
    assert_eq!(aggregate, topic_part(aggregate_of(&event.stream_id)));
    assert_eq!(event_type, topic_part(&event.event_type));
    assert_eq!(
        unescape_topic_part(aggregate),
        aggregate_of(&event.stream_id).as_bytes()
    );
    assert_eq!(unescape_topic_part(event_type), event.event_type.as_bytes());
}

/// A topic part's bytes, `%XX` read back (an independent reading of the escape).
fn unescape_topic_part(part: &str) -> Vec<u8> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
