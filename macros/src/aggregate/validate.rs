//! Rules across methods: each command handled once, each event applied once, every emitted event
//! applied.

use std::collections::HashMap;

use super::parse::{type_key, AggregateModel, Emitted};
use crate::common::Errors;

pub fn validate(model: &AggregateModel) -> syn::Result<()> {
    let mut errors = Errors::default();

    if model.appliers.is_empty() {
        errors.at_span(
            model.self_ident.span(),
            "an aggregate needs at least one `#[apply]` method: its state is rebuilt only from events",
        );
    }

    let mut applied = HashMap::new();
    let mut variants = HashMap::new();
    for applier in &model.appliers {
        let key = type_key(&applier.event);
        if let Some(first) = applied.insert(key.clone(), &applier.method) {
            errors.at(
                &applier.event,
                format!("`{key}` is already applied by `{first}`; an event type has exactly one `#[apply]` method"),
            );
            continue;
        }
        if let Some(ident) = variant_ident(&applier.event) {
            if let Some(other) = variants.insert(ident.to_string(), key.clone()) {
                errors.at(
                    &applier.event,
                    format!(
                        "`{key}` and `{other}` would both be the variant `{ident}` of the event enum; \
                         use event types with distinct names"
                    ),
                );
            }
        } else {
            errors.at(
                &applier.event,
                "an applied event must be a named struct type, e.g. `&MoneyDeposited`",
            );
        }
    }

    let mut handled = HashMap::new();
    for handler in &model.handlers {
        let key = type_key(&handler.command);
        if let Some(first) = handled.insert(key.clone(), &handler.method) {
            errors.at(
                &handler.command,
                format!("command `{key}` is already handled by `{first}`; a command has exactly one `#[handle]` method"),
            );
        }
        let enum_key = model.event_enum.to_string();
        for emitted in handler.emitted.named_types() {
            let key = type_key(emitted);
            let whole_enum = matches!(handler.emitted, Emitted::Many(_)) && key == enum_key;
            if !whole_enum && !applied.contains_key(&key) {
                errors.at(
                    emitted,
                    format!(
                        "`{key}` is returned by the command handler `{method}` but no `#[apply]` method applies it: \
                         add `#[apply] fn ...(&mut self, event: &{key})`. A command handler returns only events \
                         (CQS); return data from a query instead",
                        method = handler.method
                    ),
                );
            }
        }
    }
    errors.finish()
}

pub fn variant_ident(ty: &syn::Type) -> Option<&syn::Ident> {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            last.arguments.is_none().then_some(&last.ident)
        }
        _ => None,
    }
}
