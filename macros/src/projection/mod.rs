//! `#[projection]`: the event handlers, reset and queries of one read model, from its `impl` block.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::common::Errors;

pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let tokens = match parse::ProjectionModel::parse(args, item.clone(), &mut errors) {
        Some(model) => {
            validate::validate(&model, &mut errors);
            if errors.is_empty() {
                expand::expand(&model)
            } else {
                // One mistake is reported once: the user's methods stay, and the projection still
                // implements `Projection` and `Answer` for the queries that could be read, so
                // queries naming it and runners of it do not fail as well.
                expand::expand_fallback(&model)
            }
        }
        // Not a projection we can describe: keep the item as written (without our method
        // attributes) so that only the reported mistake remains.
        None => parse::strip_method_attributes(item),
    };
    errors.emit_after(tokens)
}
