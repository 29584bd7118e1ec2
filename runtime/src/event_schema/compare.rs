//! Comparing the code's shapes with the lock's: by name and version, then field by field.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::lock::{LockedShape, SchemaLock};
use super::problem::{Change, Problem};

/// Every disagreement of `current` (the code's) with `locked` (the file's), by name and version.
pub(super) fn problems(locked: &SchemaLock, current: &SchemaLock) -> Vec<Problem> {
    let none = BTreeMap::new();
    let names: BTreeSet<&String> = locked.events.keys().chain(current.events.keys()).collect();
    let mut problems = Vec::new();
    for name in names {
        let before = locked.events.get(name).unwrap_or(&none);
        let now = current.events.get(name).unwrap_or(&none);
        let read = now
            .keys()
            .next()
            .zip(now.keys().next_back())
            .map(|(oldest, newest)| (*oldest, *newest));
        for (version, shape) in now {
            match before.get(version) {
                None => problems.push(Problem::Unrecorded {
                    name: name.clone(),
                    version: *version,
                    rust_type: shape.rust_type.clone(),
                }),
                Some(recorded) if recorded.schema != shape.schema => problems.push(Problem::Changed {
                    name: name.clone(),
                    version: *version,
                    rust_type: shape.rust_type.clone(),
                    changes: changes(recorded, shape),
                }),
                Some(_) => {}
            }
        }
        for version in before.keys().filter(|version| !now.contains_key(version)) {
            problems.push(Problem::Disappeared {
                name: name.clone(),
                version: *version,
                read,
            });
        }
    }
    problems
}

/// The differences between a recorded shape and the code's: field by field in the event and in
/// each type it holds (`$defs`), the rest as it is.
fn changes(before: &LockedShape, now: &LockedShape) -> Vec<Change> {
    let mut found = object_changes("", &before.schema, &now.schema);
    let defs = |schema: &Value| {
        schema
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (old_defs, new_defs) = (defs(&before.schema), defs(&now.schema));
    let names: BTreeSet<&String> = old_defs.keys().chain(new_defs.keys()).collect();
    for name in names {
        match (old_defs.get(name), new_defs.get(name)) {
            (Some(old), Some(new)) if old != new => {
                found.extend(object_changes(&format!("{name}."), old, new))
            }
            // A type the event no longer holds, or a new one: its fields show as the event's.
            _ => {}
        }
    }
    if found.is_empty() {
        found.push(Change::Other {
            at: String::new(),
            before: compact(&before.schema),
            after: compact(&now.schema),
        });
    }
    found
}

/// The field differences of two object schemas, each field named with `prefix`; the keywords
/// other than `properties`, `required` and `$defs` compared whole.
fn object_changes(prefix: &str, before: &Value, now: &Value) -> Vec<Change> {
    let properties = |schema: &Value| {
        schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let required = |schema: &Value| -> BTreeSet<String> {
        schema
            .get("required")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let (old_fields, new_fields) = (properties(before), properties(now));
    let (old_required, new_required) = (required(before), required(now));
    let mut found = Vec::new();
    let names: BTreeSet<&String> = old_fields.keys().chain(new_fields.keys()).collect();
    for name in names {
        let field = format!("{prefix}{name}");
        match (old_fields.get(name), new_fields.get(name)) {
            (None, Some(_)) => found.push(Change::Added {
                required: new_required.contains(name),
                field,
            }),
            (Some(_), None) => found.push(Change::Removed { field }),
            (Some(old), Some(new)) => {
                if old != new {
                    found.push(Change::Retyped {
                        field: field.clone(),
                        before: compact(old),
                        after: compact(new),
                    });
                }
                match (old_required.contains(name), new_required.contains(name)) {
                    (false, true) => found.push(Change::NowRequired { field }),
                    (true, false) => found.push(Change::NowOptional { field }),
                    _ => {}
                }
            }
            (None, None) => {}
        }
    }
    let rest = |schema: &Value| -> BTreeMap<String, Value> {
        schema
            .as_object()
            .map(|object| {
                object
                    .iter()
                    .filter(|(keyword, _)| !matches!(keyword.as_str(), "properties" | "required" | "$defs"))
                    .map(|(keyword, value)| (keyword.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old_rest, new_rest) = (rest(before), rest(now));
    let keywords: BTreeSet<&String> = old_rest.keys().chain(new_rest.keys()).collect();
    for keyword in keywords {
        let (old, new) = (old_rest.get(keyword), new_rest.get(keyword));
        if old != new {
            found.push(Change::Other {
                at: format!("{prefix}{keyword}"),
                before: old.map_or_else(|| "absent".to_owned(), compact),
                after: new.map_or_else(|| "absent".to_owned(), compact),
            });
        }
    }
    found
}

/// `value` as one line of JSON, cut to a readable length.
fn compact(value: &Value) -> String {
    const LONGEST: usize = 160;
    let text = value.to_string();
    if text.chars().count() <= LONGEST {
        return text;
    }
    let cut: String = text.chars().take(LONGEST).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event_schema::problem::UPDATE_VARIABLE;

    fn lock(name: &str, versions: &[(u32, Value)]) -> SchemaLock {
        let mut lock = SchemaLock::default();
        let entry = lock.events.entry(name.to_owned()).or_default();
        for (version, schema) in versions {
            entry.insert(
                *version,
                LockedShape {
                    rust_type: format!("app::V{version}"),
                    schema: schema.clone(),
                },
            );
        }
        lock
    }

    fn deposited(properties: Value, required: &[&str]) -> Value {
        json!({"type": "object", "properties": properties, "required": required})
    }

    #[test]
    fn each_field_change_is_named_and_judged() {
        let before = deposited(
            json!({"account": {"type": "string"}, "amount": {"type": "integer"}, "note": {"type": "string"}}),
            &["account", "amount"],
        );
        let now = deposited(
            json!({"account": {"type": "string"}, "amount": {"type": "string"}, "currency": {"type": "string"},
                   "memo": {"type": ["string", "null"]}, "note": {"type": "string"}}),
            &["account", "amount", "currency", "note"],
        );
        let problems = problems(
            &lock("bank.Deposited", &[(1, before)]),
            &lock("bank.Deposited", &[(1, now)]),
        );
        let [Problem::Changed { changes, .. }] = problems.as_slice() else {
            panic!("{problems:?}");
        };
        assert_eq!(
            changes,
            &[
                Change::Retyped {
                    field: "amount".into(),
                    before: r#"{"type":"integer"}"#.into(),
                    after: r#"{"type":"string"}"#.into()
                },
                Change::Added {
                    field: "currency".into(),
                    required: true
                },
                Change::Added {
                    field: "memo".into(),
                    required: false
                },
                Change::NowRequired { field: "note".into() },
            ]
        );
        let text = problems[0].to_string();
        assert!(text.contains("without a new version"), "{text}");
        assert!(text.contains("bump it to `version = 2`"), "{text}");
    }

    #[test]
    fn an_optional_field_added_is_a_compatible_change() {
        let before = deposited(json!({"amount": {"type": "integer"}}), &["amount"]);
        let now = deposited(
            json!({"amount": {"type": "integer"}, "note": {"type": ["string", "null"]}}),
            &["amount"],
        );
        let problems = problems(&lock("x", &[(1, before)]), &lock("x", &[(1, now)]));
        let text = problems[0].to_string();
        assert!(
            text.contains("still read") && text.contains(UPDATE_VARIABLE),
            "{text}"
        );
        assert!(!text.contains("bump"), "{text}");
    }

    #[test]
    fn a_nested_type_change_names_the_type_and_field() {
        let shape = |kind: &str| {
            json!({"type": "object", "properties": {"lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}}},
                   "required": ["lines"],
                   "$defs": {"Line": {"type": "object", "properties": {"qty": {"type": kind}}, "required": ["qty"]}}})
        };
        let problems = problems(
            &lock("x", &[(1, shape("integer"))]),
            &lock("x", &[(1, shape("number"))]),
        );
        let [Problem::Changed { changes, .. }] = problems.as_slice() else {
            panic!("{problems:?}");
        };
        assert!(
            matches!(&changes[..], [Change::Retyped { field, .. }] if field == "Line.qty"),
            "{changes:?}"
        );
    }

    #[test]
    fn versions_that_disappear_or_are_new_are_named() {
        let v = |n: u32| {
            (
                n,
                json!({"type": "object", "properties": {format!("f{n}"): {"type": "string"}}}),
            )
        };
        // Recorded 1 to 3; the code reads 2 and 3 (the chain lost 1) and adds 4.
        let problems = problems(&lock("x", &[v(1), v(2), v(3)]), &lock("x", &[v(2), v(3), v(4)]));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(matches!(&problems[0], Problem::Unrecorded { version: 4, .. }));
        let hole = problems[1].to_string();
        assert!(
            matches!(
                problems[1],
                Problem::Disappeared {
                    version: 1,
                    read: Some((2, 4)),
                    ..
                }
            ),
            "{problems:?}"
        );
        assert!(
            hole.contains("hole below version 2") && hole.contains("upcast_from"),
            "{hole}"
        );
        // An event no type reads any more.
        let gone = super::problems(&lock("x", &[v(1)]), &SchemaLock::default());
        assert!(gone[0].to_string().contains("read by no type"), "{gone:?}");
        // Agreement is no problem.
        assert!(super::problems(&lock("x", &[v(1)]), &lock("x", &[v(1)])).is_empty());
    }
}
