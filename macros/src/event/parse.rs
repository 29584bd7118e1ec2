use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Ident, LitInt, LitStr, Type};

use crate::common::{parse_keys, reject_generics, Errors, Slot};

const KEYS: &[&str] = &["name", "version", "upcast_from"];

pub struct EventModel {
    pub ident: Ident,
    pub name: LitStr,
    pub version: u32,
    pub version_span: Span,
    /// The previous shape of the event, which stored rows of older versions are read as.
    pub upcast_from: Option<Type>,
    /// The `#[pii(subject = ...)]` fields.
    pub pii: Vec<super::pii::PiiModel>,
}

impl EventModel {
    /// Reads the item and its `#[event(...)]` attributes, recording every problem in `errors`.
    /// Returns a model whenever an impl can be generated at all; a key given wrongly falls back to
    /// its default, which only matters as long as the (already reported) error stands.
    pub fn from_input(input: &DeriveInput, errors: &mut Errors) -> Option<Self> {
        let mut implementable = reject_generics(&input.generics, "an event", errors);
        match &input.data {
            Data::Struct(_) => {}
            Data::Enum(e) => errors.at_span(
                e.enum_token.span(),
                "`#[derive(Event)]` goes on a struct: make each event its own struct, and `#[aggregate]` \
                 generates the enum of an aggregate's events from its `#[apply]` methods",
            ),
            Data::Union(u) => {
                errors.at_span(
                    u.union_token.span(),
                    "`#[derive(Event)]` goes on a struct, not a union: make each event its own struct",
                );
                implementable = false;
            }
        }

        let mut name = Slot::<LitStr>::default();
        let mut version = Slot::<u32>::default();
        let mut upcast_from = Slot::<Type>::default();
        for attr in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
            let parsed = attr.parse_nested_meta(|meta| {
                parse_keys(meta, "event", KEYS, errors, &mut |key, meta, errors| {
                    match key {
                        "name" => {
                            let lit: LitStr = meta.value()?.parse().map_err(|e| {
                                syn::Error::new(e.span(), "`name` takes a string, e.g. `name = \"bank.MoneyDeposited\"`")
                            })?;
                            if lit.value().trim().is_empty() {
                                errors.at(&lit, "an event's stored `name` cannot be empty; e.g. `name = \"bank.MoneyDeposited\"`");
                            }
                            name.set(meta, lit, errors);
                        }
                        "upcast_from" => {
                            let ty: Type = meta.value()?.parse().map_err(|e| {
                                syn::Error::new(
                                    e.span(),
                                    "`upcast_from` takes the struct of the event's previous version, e.g. `upcast_from = MoneyDepositedV1`",
                                )
                            })?;
                            upcast_from.set(meta, ty, errors);
                        }
                        _ => {
                            let value: syn::Lit = meta.value()?.parse()?;
                            let lit: LitInt = match value {
                                syn::Lit::Int(lit) => lit,
                                syn::Lit::Str(text) => {
                                    let hint = text.value().trim().parse::<u32>().map_or_else(
                                        |_| "e.g. `version = 2`".to_owned(),
                                        |n| format!("write `version = {n}` without the quotes"),
                                    );
                                    errors.at(&text, format!("`version` takes a whole number, not a string: {hint}"));
                                    return Ok(());
                                }
                                other => {
                                    errors.at(&other, "`version` takes a whole number from 1, e.g. `version = 2`");
                                    return Ok(());
                                }
                            };
                            match lit.base10_parse::<u32>() {
                                Ok(0) => errors.at(
                                    &lit,
                                    "event versions start at 1: use `version = 1` for an event's first shape",
                                ),
                                Ok(v) => version.set(meta, v, errors),
                                Err(_) => errors.at(&lit, "`version` must be a whole number from 1 to 4294967295"),
                            }
                        }
                    }
                    Ok(())
                })
            });
            if let Err(error) = parsed {
                errors.push(error);
            }
        }
        let version_value = version.value().copied().unwrap_or(1);
        if let (Some(from), 1) = (&upcast_from.0, version_value) {
            let hint = if version.0.is_some() {
                "this is `version = 1`, the first shape"
            } else {
                "without `version = ...` this is version 1, the first shape"
            };
            errors.at_span(
                from.span,
                format!(
                    "`upcast_from` names the shape stored before this one, so this event needs `version = 2` or \
                     more, one above the previous shape's; {hint}"
                ),
            );
        }
        let pii = super::pii::pii_fields(input, errors);
        if !implementable {
            return None;
        }
        let ident = input.ident.clone();
        let version_span = version.0.as_ref().map_or(ident.span(), |kv| kv.span);
        Some(Self {
            name: name
                .0
                .map(|kv| kv.value)
                .unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span())),
            version: version_value,
            version_span,
            // Dropped after an error, so that the impl still compiles.
            upcast_from: upcast_from.0.map(|kv| kv.value).filter(|_| version_value > 1),
            pii,
            ident,
        })
    }
}
