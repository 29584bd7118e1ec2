//! Rules across methods: at least one handler, each event type handled once, each query answered
//! once, one `#[reset]`, and one connection type (one read store) for every method.

use std::collections::HashMap;

use syn::Type;

use super::parse::ProjectionModel;
use crate::common::{last_ident, type_key, Errors};

pub fn validate(model: &ProjectionModel, errors: &mut Errors) {
    if model.handlers.is_empty() {
        errors.at_span(
            model.self_ident.span(),
            format!(
                "a projection needs at least one `#[on]` handler, since its read model is built only from events: \
                 add e.g. `#[on] async fn opened(&self, event: &Opened, db: &mut PgConnection) -> Result<(), \
                 sqlx::Error>` to `impl {}`",
                model.self_ident
            ),
        );
    }

    let mut handled = HashMap::new();
    for handler in &model.handlers {
        let key = type_key(&handler.event);
        if let Some(first) = handled.insert(key.clone(), &handler.method) {
            errors.at(
                &handler.event,
                format!(
                    "`{key}` is already handled by `{first}`; a projection has one `#[on]` handler per event type, \
                     so merge `{}` into `{first}`",
                    handler.method
                ),
            );
        }
    }

    if let Some((first, others)) = model.resets.split_first() {
        for other in others {
            errors.at(
                &other.attribute,
                format!(
                    "a projection has one `#[reset]` method, and it is `{}`: merge `{}` into it",
                    first.method, other.method
                ),
            );
        }
    }

    let mut answered = HashMap::new();
    for query in &model.queries {
        let key = type_key(&query.query);
        if let Some(first) = answered.insert(key.clone(), &query.method) {
            errors.at(
                &query.query,
                format!(
                    "query `{key}` is already answered by `{first}`; a query has one `#[query]` method, \
                     so merge `{}` into `{first}`",
                    query.method
                ),
            );
        }
    }

    validate_connections(model, errors);
}

/// A projection's read model lives in one store, so every method names the same connection type.
/// Types are compared as written (by their last path segment); the generated code also checks
/// that they are one type.
fn validate_connections(model: &ProjectionModel, errors: &mut Errors) {
    let Some((first_method, first)) = &model.store_connection else {
        return;
    };
    let expected = connection_key(first);
    let writing = model
        .handlers
        .iter()
        .filter_map(|h| h.connection.as_ref())
        .chain(model.resets.iter().filter_map(|r| r.connection.as_ref()));
    for connection in writing {
        let found = connection_key(connection);
        if found != expected {
            errors.at(
                connection,
                format!(
                    "a projection's read model lives in one store, and `{first_method}` uses `{expected}`: \
                     take `db: &mut {expected}` here too, not `{found}`"
                ),
            );
        }
    }
    for connection in model.queries.iter().filter_map(|q| q.connection.as_ref()) {
        let found = connection_key(connection);
        if found != expected {
            errors.at(
                connection,
                format!(
                    "a projection's read model lives in one store, and `{first_method}` uses `{expected}`: \
                     take `db: &mut ReadOnly<'_, {expected}>` here, not `{found}`"
                ),
            );
        }
    }
}

/// How a connection type is compared across methods: its last path segment as written, so
/// `sqlx::PgConnection` and `PgConnection` agree (the compiler checks that they are one type).
fn connection_key(ty: &Type) -> String {
    match last_ident(ty) {
        Some(last) => last.to_string(),
        None => type_key(ty),
    }
}
