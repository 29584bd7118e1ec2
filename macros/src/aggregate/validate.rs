//! Rules across methods: each command handled once, each event applied once; and across keys: a
//! snapshot version only with snapshots.
//!
//! Types are compared here only as written, where an equal spelling is surely one type and the
//! message can say which method to merge into which. Whether a handler's returned types are the
//! aggregate's events, and its services the aggregate's services, is left to the compiler: the
//! generated code checks it at the user's types (see `expand/handle.rs`).

use std::collections::HashMap;

use super::parse::AggregateModel;
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
            if let Some((other, other_method)) =
                variants.insert(ident.to_string(), (key.clone(), &applier.method))
            {
                errors.at(
                    &applier.event,
                    format!(
                        "`{key}` and `{other}` would both be the variant `{ident}` of the event enum: if they \
                         are one type named two ways, it has exactly one `#[apply]` method, so merge `{}` into \
                         `{other_method}`; if they are two types, give them distinct names",
                        applier.method
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
