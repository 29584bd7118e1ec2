//! What the read side's spans say about the events they handle, so that one command can be
//! followed from its `chronicle.execute` span to the batches and publishes that carry its events.

use crate::core::store::RecordedEvent;

/// The most correlation ids a span lists.
const MAX_LISTED: usize = 16;

/// The distinct correlation ids of `events`, in order, comma-separated (the first
/// [`MAX_LISTED`], then `...`).
pub(crate) fn correlation_ids(events: &[RecordedEvent]) -> String {
    let mut seen = Vec::new();
    for event in events {
        let id = event.metadata.correlation_id;
        if !seen.contains(&id) {
            if seen.len() == MAX_LISTED {
                let listed: Vec<String> = seen.iter().map(ToString::to_string).collect();
                return format!("{},...", listed.join(","));
            }
            seen.push(id);
        }
    }
    seen.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}
