use syn::{DeriveInput, Ident, Type};

use crate::common::{closest, parse_keys, reject_generics, type_value, Errors, Slot};

pub const KEYS: &[&str] = &["output", "read_model"];

/// What `#[query(...)]` says, as written: missing keys are reported by `validate`.
pub struct QueryModel {
    pub ident: Ident,
    pub concrete: bool,
    pub output: Option<Type>,
    pub read_model: Option<Type>,
    /// The first `#[query(...)]` attribute, where "missing key" errors point.
    pub attribute: Option<syn::Attribute>,
    /// The keys that were written, even if wrongly: with a value that could not be read, or
    /// misspelt (as the known key it was taken for). Their mistakes are reported already, so they
    /// are not reported again as missing.
    pub given: Vec<&'static str>,
}

impl QueryModel {
    pub fn from_input(input: &DeriveInput, errors: &mut Errors) -> Self {
        let concrete = reject_generics(&input.generics, "a query", errors);
        let mut output = Slot::<Type>::default();
        let mut read_model = Slot::<Type>::default();
        let mut attribute = None;
        let mut given = Vec::new();
        for attr in input.attrs.iter().filter(|a| a.path().is_ident("query")) {
            attribute.get_or_insert_with(|| attr.clone());
            let parsed = attr.parse_nested_meta(|meta| {
                if let Some(key) = meta.path.get_ident().map(ToString::to_string) {
                    if !KEYS.contains(&key.as_str()) {
                        given.extend(closest(&key, KEYS));
                    }
                }
                parse_keys(meta, "query", KEYS, errors, &mut |key, meta, errors| {
                    // Given, even if wrongly: not reported again as missing.
                    given.push(if key == "output" { "output" } else { "read_model" });
                    if key == "output" {
                        let expected = "the type of the answer, e.g. `output = Option<i64>`";
                        let ty: Type = type_value(meta, "output", expected, errors)?;
                        output.set(meta, ty, errors);
                    } else {
                        let expected = "the type of the projection that answers the query, \
                                        e.g. `read_model = AccountBalances`";
                        let ty: Type = type_value(meta, "read_model", expected, errors)?;
                        read_model.set(meta, ty, errors);
                    }
                    Ok(())
                })
            });
            if let Err(error) = parsed {
                errors.push(error);
            }
        }
        Self {
            ident: input.ident.clone(),
            concrete,
            output: output.0.map(|kv| kv.value),
            read_model: read_model.0.map(|kv| kv.value),
            attribute,
            given,
        }
    }
}
