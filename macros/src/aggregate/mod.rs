//! `#[aggregate]`: command handlers and event appliers of one aggregate, from its `impl` block.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let result = parse::AggregateModel::parse(args, item.clone()).and_then(|model| {
        validate::validate(&model)?;
        Ok(expand::expand(&model))
    });
    result.unwrap_or_else(|error| {
        // Keep the user's methods (without our attributes) so that one mistake is reported once,
        // not again at every call of a method that would otherwise vanish.
        let mut tokens = parse::strip_method_attributes(item);
        tokens.extend(error.into_compile_error());
        tokens
    })
}
