//! `#[aggregate]`: command handlers and event appliers of one aggregate, from its `impl` block.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::common::Errors;

pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let tokens = match parse::AggregateModel::parse(args, item.clone(), &mut errors) {
        Some(model) => {
            validate::validate(&model, &mut errors);
            if errors.is_empty() {
                expand::expand(&model)
            } else {
                // One mistake is reported once: the user's methods stay, and the aggregate still
                // implements the traits for the commands and events that could be read, so
                // commands naming it and code using its event enum do not fail as well.
                expand::expand_fallback(&model)
            }
        }
        // Not an aggregate we can describe: keep the item as written (without our method
        // attributes) so that only the reported mistake remains.
        None => parse::strip_method_attributes(item),
    };
    errors.emit_after(tokens)
}
