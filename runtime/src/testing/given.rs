//! The events the harnesses are given, as a store would record them.

use crate::core::event::Event;
use crate::core::store::RecordedEvent;

/// `event` as a store would record it at `position`, as version `stream_version` of
/// `stream_id`, with fresh ids and no actor: what the harnesses feed their handlers.
pub(crate) fn recorded<E: Event>(
    event: &E,
    position: u64,
    stream_id: String,
    stream_version: u64,
    recorded_at: chrono::DateTime<chrono::Utc>,
) -> Result<RecordedEvent, serde_json::Error> {
    let payload = serde_json::value::RawValue::from_string(serde_json::to_string(event)?)?;
    Ok(RecordedEvent {
        position,
        transaction_id: 0,
        tenant: String::new(),
        stream_id,
        stream_version,
        event_id: uuid::Uuid::new_v4(),
        event_type: E::NAME.to_owned(),
        event_version: E::VERSION,
        payload,
        metadata: crate::core::metadata::CommandContext::new().into_metadata(),
        recorded_at,
    })
}
