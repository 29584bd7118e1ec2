//! Events made by hand, for scenarios that drive `EventStore` directly rather than through
//! `Chronicle`.

use chronicle::{Metadata, NewEvent, RecordedEvent};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use uuid::Uuid;

/// Metadata of a command with some of everything in it, so that a round trip checks every field.
pub fn metadata(command_id: Uuid) -> Metadata {
    let mut extra = serde_json::Map::new();
    extra.insert("request_id".into(), json!("req-42"));
    extra.insert("nested".into(), json!({"ip": "127.0.0.1", "tags": [1, 2]}));
    Metadata {
        command_id,
        correlation_id: Uuid::new_v4(),
        causation_id: command_id,
        actor: Some("alice".into()),
        extra,
    }
}

/// An event of `command` carrying `payload`.
pub fn event(command: &Metadata, payload: Value) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "test.Happened",
        event_version: 1,
        payload: RawValue::from_string(payload.to_string()).expect("json! output is JSON"),
        metadata: command.clone(),
    }
}

/// `n` events of one fresh command.
pub fn command(n: usize) -> Vec<NewEvent> {
    let meta = metadata(Uuid::new_v4());
    (0..n).map(|i| event(&meta, json!({ "n": i }))).collect()
}

/// A command of one event per type in `types`, in that order.
pub fn typed(types: &[&'static str]) -> Vec<NewEvent> {
    let mut events = command(types.len());
    for (event, event_type) in events.iter_mut().zip(types) {
        event.event_type = event_type;
    }
    events
}

/// A row as another program (or an older version of this one) would have written it: its stored
/// name, version and JSON, with plain metadata.
pub fn stored(event_type: &'static str, version: u32, payload: &str) -> NewEvent {
    let command_id = Uuid::new_v4();
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type,
        event_version: version,
        payload: RawValue::from_string(payload.to_owned()).expect("a JSON payload"),
        metadata: Metadata {
            command_id,
            correlation_id: command_id,
            causation_id: command_id,
            actor: Some("legacy-importer".into()),
            extra: Default::default(),
        },
    }
}

/// The event ids of `events`, in order.
pub fn ids(events: &[RecordedEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.event_id).collect()
}

/// A stored event's payload as JSON.
pub fn payload_value(event: &RecordedEvent) -> Value {
    serde_json::from_str(event.payload.get()).expect("stored payload is JSON")
}
