//! Rules across methods: at least one handler, each event type handled once, each query answered
//! once, one `#[reset]`.
//!
//! Types are compared here only as written, where an equal spelling is surely one type. That every
//! method takes one connection type (one read store) is checked by the compiler, in the generated
//! code, since `sqlx::PgConnection`, `PgConnection` and an alias of it are one type.

use std::collections::HashMap;

use super::parse::ProjectionModel;
use crate::common::{type_key, Errors};

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
}
