//! `#[process_manager]`: the event handlers, rejection handlers and deadline handler of one
//! workflow across aggregates, from its `impl` block.

mod expand;
mod parse;

use proc_macro2::TokenStream;

use crate::common::{strip_method_attributes, Errors};

pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let tokens = match parse::ProcessModel::parse(args, item.clone(), &mut errors) {
        Some(model) if errors.is_empty() => expand::expand(&model),
        Some(model) => expand::expand_fallback(&model),
        None => strip_method_attributes(item, parse::METHOD_ATTRIBUTES),
    };
    errors.emit_after(tokens)
}
