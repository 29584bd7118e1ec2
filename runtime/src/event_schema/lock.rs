//! The lock file: every stored name and version with its normalized JSON Schema, as pretty JSON
//! sorted by name and version, so that a change shows as a readable diff in review.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::SchemaGateError;

/// The format of the lock file this version writes and reads.
const FORMAT: u32 = 1;

/// What a lock file records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaLock {
    /// By stored name, then version: the shape of those rows.
    pub events: BTreeMap<String, BTreeMap<u32, LockedShape>>,
}

/// One version's recorded shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedShape {
    /// The Rust type that read it when it was recorded (informative: renaming a type changes no
    /// stored row).
    pub rust_type: String,
    /// Its JSON Schema, normalized.
    pub schema: Value,
}

/// The file's JSON.
#[derive(Serialize, Deserialize)]
struct LockFile {
    chronicle_event_lock: u32,
    /// Versions as text keys: JSON objects have no number keys.
    events: BTreeMap<String, BTreeMap<String, LockedShape>>,
}

impl SchemaLock {
    /// The lock file at `path`; an empty lock when there is no file yet (every shape is then
    /// new, and the gate says how to record them).
    pub fn read(path: &Path) -> Result<Self, SchemaGateError> {
        let shown = || path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(SchemaGateError::Io {
                    path: shown(),
                    source,
                })
            }
        };
        let malformed = |reason: String| SchemaGateError::Malformed {
            path: shown(),
            reason,
        };
        let file: LockFile = serde_json::from_str(&text).map_err(|error| malformed(error.to_string()))?;
        if file.chronicle_event_lock != FORMAT {
            return Err(malformed(format!(
                "it is format {}, and this version of Chronicle reads format {FORMAT}",
                file.chronicle_event_lock
            )));
        }
        let mut events = BTreeMap::new();
        for (name, versions) in file.events {
            let mut parsed = BTreeMap::new();
            for (version, shape) in versions {
                let number = version.parse::<u32>().ok().filter(|v| *v > 0).ok_or_else(|| {
                    malformed(format!("`{name}` has a version `{version}`, not a number from 1"))
                })?;
                parsed.insert(number, shape);
            }
            events.insert(name, parsed);
        }
        Ok(Self { events })
    }

    /// Writes the lock to `path` (pretty JSON, ending in a newline).
    pub fn write(&self, path: &Path) -> Result<(), SchemaGateError> {
        let file = LockFile {
            chronicle_event_lock: FORMAT,
            events: self
                .events
                .iter()
                .map(|(name, versions)| {
                    let versions = versions
                        .iter()
                        .map(|(version, shape)| (version.to_string(), shape.clone()))
                        .collect();
                    (name.clone(), versions)
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&file).map_err(|error| SchemaGateError::Malformed {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
        text.push('\n');
        std::fs::write(path, text).map_err(|source| SchemaGateError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Keywords that describe a schema to people and change no stored row.
const ANNOTATIONS: &[&str] = &["$schema", "title", "description", "examples", "$comment"];
/// Keywords whose value is a map of names to schemas.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "$defs",
    "definitions",
    "patternProperties",
    "dependentSchemas",
];
/// Keywords whose value is a schema.
const SCHEMAS: &[&str] = &[
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
];
/// Keywords whose value is a list of schemas.
const SCHEMA_LISTS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];

/// `schema` without its annotations, at every level where a schema is (a property named
/// `description` is kept: it is a name there, not a keyword).
pub(super) fn normalized(schema: &Value) -> Value {
    let Value::Object(object) = schema else {
        return schema.clone();
    };
    let mut kept = Map::new();
    for (keyword, value) in object {
        if ANNOTATIONS.contains(&keyword.as_str()) {
            continue;
        }
        let value = if SCHEMA_MAPS.contains(&keyword.as_str()) {
            match value {
                Value::Object(named) => {
                    Value::Object(named.iter().map(|(n, s)| (n.clone(), normalized(s))).collect())
                }
                other => other.clone(),
            }
        } else if SCHEMAS.contains(&keyword.as_str()) {
            normalized(value)
        } else if SCHEMA_LISTS.contains(&keyword.as_str()) {
            match value {
                Value::Array(list) => Value::Array(list.iter().map(normalized).collect()),
                other => other.clone(),
            }
        } else {
            value.clone()
        };
        kept.insert(keyword.clone(), value);
    }
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn annotations_go_and_names_stay() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Deposited",
            "description": "Money came in.",
            "type": "object",
            "properties": {
                "description": {"type": "string", "description": "what the customer wrote"},
                "lines": {"type": "array", "items": {"$ref": "#/$defs/Line", "title": "x"}}
            },
            "$defs": {"Line": {"type": "object", "description": "a line"}},
            "required": ["description"]
        });
        assert_eq!(
            normalized(&schema),
            json!({
                "type": "object",
                "properties": {
                    "description": {"type": "string"},
                    "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}}
                },
                "$defs": {"Line": {"type": "object"}},
                "required": ["description"]
            })
        );
    }

    #[test]
    fn a_lock_reads_back_as_written() {
        let path =
            std::env::temp_dir().join(format!("chronicle-lock-{}.json", uuid::Uuid::new_v4().simple()));
        let mut lock = SchemaLock::default();
        lock.events.entry("bank.Deposited".into()).or_default().insert(
            2,
            LockedShape {
                rust_type: "bank::Deposited".into(),
                schema: json!({"type": "object"}),
            },
        );
        lock.write(&path).unwrap();
        assert_eq!(SchemaLock::read(&path).unwrap(), lock);
        std::fs::write(
            &path,
            r#"{"chronicle_event_lock": 1, "events": {"x": {"zero": {"rust_type": "", "schema": {}}}}}"#,
        )
        .unwrap();
        assert!(matches!(
            SchemaLock::read(&path),
            Err(SchemaGateError::Malformed { .. })
        ));
        std::fs::write(&path, "not json").unwrap();
        assert!(matches!(
            SchemaLock::read(&path),
            Err(SchemaGateError::Malformed { .. })
        ));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            SchemaLock::read(&path).unwrap(),
            SchemaLock::default(),
            "no file: an empty lock"
        );
    }
}
