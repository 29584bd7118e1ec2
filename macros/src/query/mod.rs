//! `#[derive(Query)]`: a query's answer type and the projection whose read model answers it.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::common::Errors;

/// The `Query` impl when both keys are known; otherwise only the errors, since an impl with a
/// made-up answer type would be reported again wherever the query is answered.
pub fn derive(input: syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let model = parse::QueryModel::from_input(&input, &mut errors);
    let tokens = validate::validate(&model, &mut errors)
        .map(|complete| expand::expand(&complete))
        .unwrap_or_default();
    errors.emit_after(tokens)
}
