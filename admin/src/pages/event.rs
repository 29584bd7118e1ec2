//! An event as the pages show it: its place, type and metadata, its payload decoded as JSON,
//! masked fields shown as `***`.

use std::collections::BTreeSet;

use chronicle::RecordedEvent;

use super::time;
use crate::mask::masked_json;

/// One event, ready for a template.
pub(crate) struct EventRow {
    pub(crate) position: u64,
    pub(crate) stream_id: String,
    pub(crate) stream_version: u64,
    pub(crate) event_type: String,
    pub(crate) event_version: u32,
    pub(crate) event_id: String,
    pub(crate) recorded_at: String,
    pub(crate) actor: Option<String>,
    pub(crate) command_id: String,
    pub(crate) correlation_id: String,
    pub(crate) causation_id: String,
    /// The payload, pretty-printed and masked.
    pub(crate) payload: String,
    /// The metadata's extra keys, pretty-printed and masked; `None` when there are none.
    pub(crate) extra: Option<String>,
}

impl EventRow {
    pub(crate) fn new(event: &RecordedEvent, masked: &BTreeSet<String>) -> Self {
        let payload = serde_json::from_str(event.payload.get())
            .map(|value| masked_json(value, masked))
            .unwrap_or_else(|_| event.payload.get().to_owned());
        let metadata = &event.metadata;
        let extra = (!metadata.extra.is_empty())
            .then(|| masked_json(serde_json::Value::Object(metadata.extra.clone()), masked));
        let mut actor = metadata.actor.clone().map(serde_json::Value::String);
        // The actor is a field of the metadata like the others: masked when it is named.
        if masked.contains("actor") {
            actor = actor.map(|_| serde_json::Value::String(crate::mask::MASK.to_owned()));
        }
        Self {
            position: event.position,
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            event_type: event.event_type.clone(),
            event_version: event.event_version,
            event_id: event.event_id.to_string(),
            recorded_at: time(event.recorded_at),
            actor: actor.and_then(|a| a.as_str().map(str::to_owned)),
            command_id: metadata.command_id.to_string(),
            correlation_id: metadata.correlation_id.to_string(),
            causation_id: metadata.causation_id.to_string(),
            payload,
            extra,
        }
    }
}
