//! `#[pii(subject = field)]` on an event's fields: the personal-data fields, each with the field
//! that names its data subject, read and checked against the struct's fields.

use syn::{Attribute, Data, DeriveInput, Fields, Ident, Type};

use crate::common::{closest, parse_keys, Errors, Slot};

const KEYS: &[&str] = &["subject"];

/// One `#[pii]` field.
pub struct PiiModel {
    pub field: Ident,
    pub ty: Type,
    pub subject: Ident,
}

/// The struct's `#[pii]` fields, every misuse recorded in `errors` (the fields in error left out).
pub fn pii_fields(input: &DeriveInput, errors: &mut Errors) -> Vec<PiiModel> {
    for attr in input.attrs.iter().filter(|a| is_pii(a)) {
        errors.at(
            attr,
            "`#[pii(subject = ...)]` goes on a field of the event, the one holding personal data, not on the struct",
        );
    }
    let Data::Struct(data) = &input.data else {
        return Vec::new();
    };
    let named = match &data.fields {
        Fields::Named(named) => named,
        fields => {
            for attr in fields.iter().flat_map(|f| &f.attrs).filter(|a| is_pii(a)) {
                errors.at(
                    attr,
                    "`#[pii]` needs a struct with named fields, so that the stored field can be found by name; \
                     make this a struct with named fields",
                );
            }
            return Vec::new();
        }
    };
    let names: Vec<String> = named
        .named
        .iter()
        .filter_map(|f| f.ident.as_ref().map(ToString::to_string))
        .collect();
    let mut marked = Vec::new();
    for field in &named.named {
        let Some(ident) = &field.ident else { continue };
        let mut subject = Slot::<Ident>::default();
        let mut any = false;
        // A key given wrongly is its own error: no second one for the subject it did not give.
        let errors_before = errors.count();
        for attr in field.attrs.iter().filter(|a| is_pii(a)) {
            any = true;
            if matches!(attr.meta, syn::Meta::Path(_)) {
                continue;
            }
            let parsed = attr.parse_nested_meta(|meta| {
                parse_keys(meta, "pii", KEYS, errors, &mut |_, meta, errors| {
                    let value: Ident = meta.value()?.parse().map_err(|e| {
                        syn::Error::new(e.span(), "`subject` takes the name of a field of this struct, e.g. `subject = customer_id`")
                    })?;
                    subject.set(meta, value, errors);
                    Ok(())
                })
            });
            if let Err(error) = parsed {
                errors.push(error);
            }
        }
        if !any {
            continue;
        }
        match subject.0 {
            Some(kv) => marked.push(PiiModel {
                field: ident.clone(),
                ty: field.ty.clone(),
                subject: kv.value,
            }),
            None if errors.count() > errors_before => {}
            None => errors.at(
                field.attrs.iter().find(|a| is_pii(a)),
                format!(
                    "`#[pii]` needs the field that names the person `{ident}` is about: e.g. `#[pii(subject = customer_id)]`"
                ),
            ),
        }
        reject_renames(&field.attrs, ident, errors);
    }
    let known: Vec<&str> = names.iter().map(String::as_str).collect();
    marked.retain(|pii| {
        let subject = pii.subject.to_string();
        if !known.contains(&subject.as_str()) {
            let others: Vec<&str> = known.iter().copied().filter(|n| pii.field != *n).collect();
            let hint = match closest(&subject, &others) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!(
                    "the fields are {}",
                    others
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            errors.at(
                &pii.subject,
                format!(
                    "`{}` has no field `{subject}` to name the data subject; {hint}",
                    input.ident
                ),
            );
            return false;
        }
        true
    });
    let marked_names: Vec<String> = marked.iter().map(|p| p.field.to_string()).collect();
    marked.retain(|pii| {
        if marked_names.contains(&pii.subject.to_string()) {
            errors.at(
                &pii.subject,
                format!(
                    "the subject `{}` is itself a `#[pii]` field: the subject is stored in the clear, to find the key \
                     by; name the person by an id (a customer id) that is not personal data",
                    pii.subject
                ),
            );
            return false;
        }
        true
    });
    if !marked.is_empty() {
        for field in named
            .named
            .iter()
            .filter(|f| marked.iter().any(|p| Some(&p.subject) == f.ident.as_ref()))
        {
            if let Some(ident) = &field.ident {
                reject_renames(&field.attrs, ident, errors);
            }
        }
        reject_renames(&input.attrs, &input.ident, errors);
    }
    marked
}

fn is_pii(attr: &Attribute) -> bool {
    attr.path().is_ident("pii")
}

/// Sealing finds fields by their Rust names in the stored JSON, so serde may not rename them.
fn reject_renames(attrs: &[Attribute], item: &Ident, errors: &mut Errors) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let text = quote::quote!(#attr).to_string();
        if ["rename", "flatten", "alias"]
            .iter()
            .any(|word| text.contains(word))
        {
            errors.at(
                attr,
                format!(
                    "`#[serde(rename/rename_all/flatten/alias)]` on `{item}` is not supported with `#[pii]`: personal-data \
                     fields and their subjects are found in the stored JSON by their Rust names"
                ),
            );
        }
    }
}
