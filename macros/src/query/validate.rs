//! Rules across the keys: a query declares both its answer type and its read model.

use super::parse::QueryModel;
use crate::common::Errors;

/// A query whose impl can be generated.
pub struct CompleteQuery<'m> {
    pub ident: &'m syn::Ident,
    pub output: &'m syn::Type,
    pub read_model: &'m syn::Type,
}

/// Reports missing keys (unless the key was written and its mistake already reported), and returns
/// the query when it is complete.
pub fn validate<'m>(model: &'m QueryModel, errors: &mut Errors) -> Option<CompleteQuery<'m>> {
    let ident = &model.ident;
    let missing_output = model.output.is_none() && !model.given.contains(&"output");
    let missing_read_model = model.read_model.is_none() && !model.given.contains(&"read_model");
    let message = match (missing_output, missing_read_model) {
        (true, true) => Some(format!(
            "a query declares the type of its answer and the projection that answers it: add \
             `#[query(output = YourAnswer, read_model = YourProjection)]` above `struct {ident}`"
        )),
        (true, false) => Some(format!(
            "a query declares the type of its answer: add `output = YourAnswer` to `#[query(...)]` of `{ident}`, \
             e.g. `output = Option<i64>`"
        )),
        (false, true) => Some(format!(
            "a query names the projection whose read model answers it: add `read_model = YourProjection` \
             to `#[query(...)]` of `{ident}`"
        )),
        (false, false) => None,
    };
    if let Some(message) = message {
        match &model.attribute {
            Some(attribute) => errors.at(attribute, message),
            None => errors.at_span(ident.span(), message),
        }
    }
    Some(CompleteQuery {
        ident,
        output: model.output.as_ref()?,
        read_model: model.read_model.as_ref()?,
    })
    .filter(|_| model.concrete)
}
