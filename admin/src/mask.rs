//! Masking sensitive fields of payloads and metadata before they are shown.

use std::collections::BTreeSet;

use serde_json::Value;

/// What masked values are shown as.
pub(crate) const MASK: &str = "***";

/// Replaces the value of every object field named in `fields`, at any depth, by [`MASK`].
pub(crate) fn mask(value: &mut Value, fields: &BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if fields.contains(key) {
                    *value = Value::String(MASK.to_owned());
                } else {
                    mask(value, fields);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| mask(item, fields)),
        _ => {}
    }
}

/// `value` masked and pretty-printed.
pub(crate) fn masked_json(mut value: Value, fields: &BTreeSet<String>) -> String {
    mask(&mut value, fields);
    serde_json::to_string_pretty(&value).unwrap_or_else(|error| format!("(not JSON: {error})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_masked_at_any_depth_and_others_kept() {
        let fields = BTreeSet::from(["email".to_owned()]);
        let mut value = serde_json::json!({
            "email": "a@example.com",
            "owner": {"email": {"nested": 1}, "name": "Ada"},
            "list": [{"email": "b@example.com"}],
        });
        mask(&mut value, &fields);
        assert_eq!(
            value,
            serde_json::json!({
                "email": "***",
                "owner": {"email": "***", "name": "Ada"},
                "list": [{"email": "***"}],
            })
        );
    }
}
