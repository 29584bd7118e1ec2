//! Personal data on its way into and out of the event table: sealing a command's events before
//! the append, revealing a batch of stored events (one key lookup per batch), and putting the
//! redacted value in place of a forgotten field while decoding.

use std::collections::{BTreeSet, HashMap};

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::keys::{KeyState, KeyStore, Subject};
use super::seal::{envelope, open, seal, sealed_subject};
use super::{PiiField, FORGOTTEN_KEY, SEALED_KEY, UNREADABLE_KEY};
use crate::core::error::StoreError;
use crate::core::store::{NewEvent, RecordedEvent};
use crate::core::tenant::Tenant;

/// Seals the `#[pii]` fields of `events` (`fields[i]` are those of `events[i]`) under their
/// subjects' keys in `tenant` (the tenant the events are appended for), creating missing keys. A
/// forgotten subject's new data is refused with [`StoreError::SubjectForgotten`]: its key is
/// gone, and a new one would undo the forgetting.
pub async fn seal_events(
    events: &mut [NewEvent],
    fields: &[&'static [PiiField]],
    keys: Option<&dyn KeyStore>,
    tenant: &Tenant,
) -> Result<(), StoreError> {
    let subject_of = |object: &Map<String, Value>, field: &PiiField, event_type| {
        subject_of(object, field, event_type).map(|id| Subject::new(tenant.clone(), id))
    };
    let mut objects: Vec<Option<Map<String, Value>>> = Vec::with_capacity(events.len());
    let mut subjects = BTreeSet::new();
    for (event, fields) in events.iter().zip(fields) {
        if fields.is_empty() {
            objects.push(None);
            continue;
        }
        let object: Map<String, Value> =
            serde_json::from_str(event.payload.get()).map_err(|_| StoreError::InvalidEvent {
                event_type: event.event_type,
                reason: "an event with `#[pii]` fields must serialize to a JSON object",
            })?;
        for field in fields.iter().filter(|field| object.contains_key(field.field)) {
            subjects.insert(subject_of(&object, field, event.event_type)?);
        }
        objects.push(Some(object));
    }
    if subjects.is_empty() {
        return Ok(());
    }
    let event_type = events[0].event_type;
    let keys = keys.ok_or(StoreError::NoKeyStore { event_type })?;
    let subjects: Vec<Subject> = subjects.into_iter().collect();
    let found = keys.keys_for_writing(&subjects).await?;
    for ((event, fields), object) in events.iter_mut().zip(fields).zip(objects) {
        let Some(mut object) = object else { continue };
        for field in fields.iter() {
            let subject = subject_of(&object, field, event.event_type)?;
            let Some(value) = object.get_mut(field.field) else {
                continue;
            };
            let key = match found.get(&subject) {
                Some(KeyState::Active(key)) => key,
                Some(KeyState::Forgotten) => {
                    return Err(StoreError::SubjectForgotten { subject: subject.id })
                }
                None => {
                    return Err(StoreError::Database(
                        format!("the key store returned no key for subject {subject}").into(),
                    ))
                }
            };
            *value = seal(key, &subject.id, event.event_type, field.field, value);
        }
        event.payload = serde_json::value::to_raw_value(&object).map_err(|source| StoreError::Encode {
            event_type: event.event_type,
            source,
        })?;
    }
    Ok(())
}

/// The subject of `field`: its subject field's value as text (a string as it is, a number
/// written out); anything else cannot name a person.
fn subject_of(
    object: &Map<String, Value>,
    field: &PiiField,
    event_type: &'static str,
) -> Result<String, StoreError> {
    match object.get(field.subject) {
        Some(Value::String(subject)) if !subject.is_empty() => Ok(subject.clone()),
        Some(Value::Number(number)) => Ok(number.to_string()),
        _ => Err(StoreError::InvalidEvent {
            event_type,
            reason: "the subject field of a `#[pii]` field must be a non-empty string or a number",
        }),
    }
}

/// Whether a stored payload may hold sealed fields; a text search, so that events without
/// personal data are not parsed.
fn may_hold(payload: &RawValue, key: &str) -> bool {
    let text = payload.get();
    text.contains(key) && text.contains("chronicle:")
}

/// Whether a stored payload may hold a sealed field, which only [`reveal`] opens: a read that
/// does not reveal (a load's light stream read) takes the whole events instead.
pub(crate) fn may_be_sealed(payload: &RawValue) -> bool {
    may_hold(payload, SEALED_KEY)
}

/// Replaces every sealed field of `events` by its plaintext, looking up the keys of the whole
/// batch at once. A forgotten subject's field becomes a forgotten marker, and an envelope that
/// does not open (altered, or no key for it) an unreadable one; decoding then reads the first as
/// the field's [`Redact`](super::Redact) value and refuses the second with a typed error naming
/// the row. Events without sealed fields are not touched. Without a key store, sealed fields stay
/// sealed (and decoding refuses them).
pub async fn reveal(events: &mut [RecordedEvent], keys: Option<&dyn KeyStore>) -> Result<(), StoreError> {
    let sealed = Sealed::of(events);
    if sealed.is_empty() {
        return Ok(());
    }
    let Some(keys) = keys else { return Ok(()) };
    let found = keys.keys(&sealed.subjects).await?;
    sealed.open(events, &found)
}

/// The sealed fields of a batch of stored events, and the subjects whose keys open them: what
/// [`reveal`] looks up in a key store, or a store in its own transaction (a Postgres store's
/// inline projections, inside the append).
pub(crate) struct Sealed {
    /// Each event holding sealed fields: its index in the batch and its payload's object.
    objects: Vec<(usize, Map<String, Value>)>,
    /// The subjects of those fields, each once.
    pub(crate) subjects: Vec<Subject>,
}

impl Sealed {
    /// The sealed fields of `events`.
    pub(crate) fn of(events: &[RecordedEvent]) -> Self {
        let mut objects: Vec<(usize, Map<String, Value>)> = Vec::new();
        let mut subjects = BTreeSet::new();
        for (index, event) in events.iter().enumerate() {
            if !may_hold(&event.payload, SEALED_KEY) {
                continue;
            }
            let Ok(object) = serde_json::from_str::<Map<String, Value>>(event.payload.get()) else {
                continue;
            };
            let mut any = false;
            for value in object.values() {
                if let Some(subject) = sealed_subject(value) {
                    subjects.insert(subject_in(event, subject));
                    any = true;
                }
            }
            if any {
                objects.push((index, object));
            }
        }
        Self {
            objects,
            subjects: subjects.into_iter().collect(),
        }
    }

    /// Whether no event holds a sealed field.
    pub(crate) fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Replaces the sealed fields of `events` (the batch they were found in) with what `found`
    /// opens them to.
    pub(crate) fn open(
        self,
        events: &mut [RecordedEvent],
        found: &HashMap<Subject, KeyState>,
    ) -> Result<(), StoreError> {
        for (index, mut object) in self.objects {
            let Some(event) = events.get_mut(index) else {
                continue;
            };
            let tenant = Tenant::of_stored(&event.tenant);
            for (field, value) in object.iter_mut() {
                if let Some(opened) = reveal_field(found, &tenant, value, &event.event_type, field) {
                    *value = opened;
                }
            }
            event.payload = serde_json::value::to_raw_value(&object).map_err(|error| {
                StoreError::Database(format!("re-encoding a revealed payload: {error}").into())
            })?;
        }
        Ok(())
    }
}

/// The subject `id` of the tenant that `event` belongs to.
fn subject_in(event: &RecordedEvent, id: &str) -> Subject {
    Subject::new(Tenant::of_stored(&event.tenant), id)
}

/// What a sealed `value` of an event of `tenant` reads as: its plaintext, a forgotten or an
/// unreadable marker; `None` when it is not an envelope.
fn reveal_field(
    found: &HashMap<Subject, KeyState>,
    tenant: &Tenant,
    value: &Value,
    event_type: &str,
    field: &str,
) -> Option<Value> {
    let subject = sealed_subject(value)?;
    let marker =
        |key: &str, text: String| Value::Object(Map::from_iter([(key.to_owned(), Value::String(text))]));
    let Some(inside) = envelope(value) else {
        return Some(marker(
            UNREADABLE_KEY,
            "the sealed field's envelope is malformed".to_owned(),
        ));
    };
    let subject = Subject::new(tenant.clone(), subject);
    Some(match found.get(&subject) {
        Some(KeyState::Active(key)) => match open(key, inside, event_type, field) {
            Ok(plaintext) => plaintext,
            Err(error) => marker(UNREADABLE_KEY, error.to_string()),
        },
        Some(KeyState::Forgotten) => marker(FORGOTTEN_KEY, subject.id),
        None => marker(
            UNREADABLE_KEY,
            format!("the key store has no key for subject {subject}"),
        ),
    })
}

/// The one-key marker object `value` is, if it is one of `key`'s: its text.
fn marker<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    let object = value.as_object()?;
    (object.len() == 1).then_some(())?;
    object.get(key)?.as_str()
}

/// Why a payload with `#[pii]` fields cannot be made ready for its type.
pub(crate) enum Unready {
    /// The payload is not a JSON object, or a redacted value could not be written.
    Json(serde_json::Error),
    /// A sealed field that was not opened: its key was unreadable, or no key store was given.
    Unopened {
        /// The field.
        field: &'static str,
        /// Why it did not open.
        reason: String,
    },
}

/// A payload whose type declares `fields` (`#[pii]`), made ready for serde: a forgotten field
/// replaced by its `redacted` value (the type's `Event::redacted`); `None` when the payload
/// holds no marker at all, so it decodes as it is. Kept apart from `Event` so that this module
/// and `core::event`, which calls it, do not import each other.
pub(crate) fn redacted_payload(
    payload: &RawValue,
    fields: &'static [PiiField],
    redacted: impl Fn(&str) -> Option<Result<Value, serde_json::Error>>,
) -> Result<Option<Value>, Unready> {
    if !payload.get().contains("\"chronicle:") {
        return Ok(None);
    }
    let mut object: Map<String, Value> = serde_json::from_str(payload.get()).map_err(Unready::Json)?;
    for field in fields {
        let Some(value) = object.get_mut(field.field) else {
            continue;
        };
        if marker(value, FORGOTTEN_KEY).is_some() {
            match redacted(field.field) {
                Some(replacement) => *value = replacement.map_err(Unready::Json)?,
                None => continue,
            }
        } else if let Some(reason) = marker(value, UNREADABLE_KEY) {
            return Err(Unready::Unopened {
                field: field.field,
                reason: reason.to_owned(),
            });
        } else if envelope(value).is_some() {
            return Err(Unready::Unopened {
                field: field.field,
                reason: "it was not opened: no key store was given to the reader".to_owned(),
            });
        }
    }
    Ok(Some(Value::Object(object)))
}

/// What a tool without the application's types shows of a stored payload: each sealed field
/// as `"[encrypted]"`, or as the [`FORGOTTEN`](super::FORGOTTEN) placeholder when `forgotten`
/// says its subject was forgotten.
pub fn display_payload(payload: &Value, forgotten: &dyn Fn(&str) -> bool) -> Value {
    let Some(object) = payload.as_object() else {
        return payload.clone();
    };
    let shown = object.iter().map(|(field, value)| {
        let shown = match sealed_subject(value) {
            Some(subject) if forgotten(subject) => Value::String(super::FORGOTTEN.to_owned()),
            Some(_) => Value::String(ENCRYPTED.to_owned()),
            None => value.clone(),
        };
        (field.clone(), shown)
    });
    Value::Object(shown.collect())
}

/// The subjects whose sealed fields `payload` holds, for a tool to ask the key store about.
pub fn sealed_subjects(payload: &Value) -> Vec<String> {
    payload
        .as_object()
        .map(|object| {
            object
                .values()
                .filter_map(sealed_subject)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What a tool shows for a sealed field it does not open.
pub const ENCRYPTED: &str = "[encrypted]";

/// Rewrites `events` for a tool without the application's types to show: each sealed field as
/// [`ENCRYPTED`], or as the [`FORGOTTEN`](super::FORGOTTEN) placeholder when `keys` says its
/// subject was forgotten (one lookup for all of them). Nothing is decrypted. Without a key store,
/// or when it cannot be read (a role without access to it), every sealed field shows as
/// [`ENCRYPTED`].
pub async fn mask_sealed(events: &mut [RecordedEvent], keys: Option<&dyn KeyStore>) {
    let mut parsed: Vec<(usize, Value)> = Vec::new();
    let mut subjects = BTreeSet::new();
    for (index, event) in events.iter().enumerate() {
        if !may_hold(&event.payload, SEALED_KEY) {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(event.payload.get()) else {
            continue;
        };
        subjects.extend(sealed_subjects(&value).iter().map(|id| subject_in(event, id)));
        parsed.push((index, value));
    }
    if parsed.is_empty() {
        return;
    }
    let subjects: Vec<Subject> = subjects.into_iter().collect();
    let found = match keys {
        Some(keys) => keys.keys(&subjects).await.unwrap_or_default(),
        None => HashMap::new(),
    };
    for (index, value) in parsed {
        let tenant = Tenant::of_stored(&events[index].tenant);
        let forgotten = |id: &str| {
            matches!(
                found.get(&Subject::new(tenant.clone(), id)),
                Some(KeyState::Forgotten)
            )
        };
        if let Ok(shown) = serde_json::value::to_raw_value(&display_payload(&value, &forgotten)) {
            events[index].payload = shown;
        }
    }
}
