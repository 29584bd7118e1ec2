//! Rules across methods: each command handled once, each event applied once, every emitted event
//! applied; and across keys: a snapshot version only with snapshots.

use std::collections::HashMap;

use super::parse::{AggregateModel, Emitted};
use crate::common::{plain_name, type_key, Errors};

pub fn validate(model: &AggregateModel, errors: &mut Errors) {
    if model.appliers.is_empty() {
        errors.at_span(
            model.self_ident.span(),
            format!(
                "an aggregate needs at least one `#[apply]` method, since its state is rebuilt only from events: \
                 add e.g. `#[apply] fn opened(&mut self, event: &Opened)` to `impl {}`",
                model.self_ident
            ),
        );
    }

    let mut applied = HashMap::new();
    let mut variants = HashMap::new();
    for applier in &model.appliers {
        let key = type_key(&applier.event);
        if let Some(first) = applied.insert(key.clone(), &applier.method) {
            errors.at(
                &applier.event,
                format!(
                    "`{key}` is already applied by `{first}`; an event type has exactly one `#[apply]` method, \
                     so merge `{}` into `{first}`",
                    applier.method
                ),
            );
            continue;
        }
        if let Some(ident) = plain_name(&applier.event) {
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

    validate_services(model, errors);
    validate_snapshots(model, errors);

    let mut handled = HashMap::new();
    for handler in &model.handlers {
        let key = type_key(&handler.command);
        if let Some(first) = handled.insert(key.clone(), &handler.method) {
            errors.at(
                &handler.command,
                format!(
                    "command `{key}` is already handled by `{first}`; a command has exactly one `#[handle]` \
                     method, so merge `{}` into `{first}`",
                    handler.method
                ),
            );
        }
        let enum_key = model.event_enum.to_string();
        for emitted in handler.emitted.named_types() {
            let key = type_key(emitted);
            let whole_enum = matches!(handler.emitted, Emitted::Many(_)) && key == enum_key;
            if whole_enum || applied.contains_key(&key) {
                continue;
            }
            let message = if is_plain_data(emitted) {
                let example = model
                    .appliers
                    .first()
                    .map_or_else(|| "YourEvent".to_owned(), |a| type_key(&a.event));
                format!(
                    "a command handler returns events, not data: `{key}` is not an event of `{aggregate}`. \
                     Return the event that records the decision (e.g. `Result<{example}, {error}>`) and \
                     read data from a query instead (CQS)",
                    aggregate = model.self_ident,
                    error = type_key(&handler.error),
                )
            } else {
                format!(
                    "`{key}` is returned by the command handler `{method}` but no `#[apply]` method applies it, \
                     so it could never be replayed: add `#[apply] fn ...(&mut self, event: &{key})` to `impl {aggregate}`",
                    method = handler.method,
                    aggregate = model.self_ident,
                )
            };
            errors.at(emitted, message);
        }
    }
}

/// `snapshot_version` versions snapshots, so it means nothing without `snapshot_every`.
fn validate_snapshots(model: &AggregateModel, errors: &mut Errors) {
    if let (None, Some((version, span))) = (model.snapshot_every, model.snapshot_version) {
        errors.at_span(
            span,
            format!(
                "`snapshot_version` is the version of the state's shape in snapshots, but `{}` takes none: add \
                 `snapshot_every = N` to take a snapshot every N events, or remove `snapshot_version = {version}`",
                model.self_ident
            ),
        );
    }
}

/// An aggregate has one services type: the declared one, or else the one its first handler takes.
fn validate_services(model: &AggregateModel, errors: &mut Errors) {
    let mut expected = model.services.as_ref().map(|ty| {
        (
            type_key(ty),
            "declared by `#[aggregate(services = ...)]`".to_owned(),
        )
    });
    for handler in &model.handlers {
        let Some(services) = &handler.services else {
            continue;
        };
        let key = type_key(services);
        match &expected {
            None => expected = Some((key, format!("taken by the handler `{}`", handler.method))),
            Some((first, origin)) if *first != key => errors.at(
                services,
                format!(
                    "an aggregate has one services type, and it is `{first}` ({origin}): take `&{first}` here, \
                     or put what this handler needs into `{first}`"
                ),
            ),
            Some(_) => {}
        }
    }
}

/// Types that are certainly not events: primitives, text, references and collections of them.
fn is_plain_data(ty: &syn::Type) -> bool {
    const DATA: &[&str] = &[
        "bool", "char", "str", "String", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32",
        "u64", "u128", "usize", "f32", "f64", "HashMap", "BTreeMap", "HashSet", "BTreeSet", "Box", "Uuid",
    ];
    match crate::common::ungroup(ty) {
        syn::Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|last| DATA.iter().any(|name| last.ident == name)),
        syn::Type::Reference(_) | syn::Type::Slice(_) | syn::Type::Array(_) => true,
        _ => false,
    }
}
