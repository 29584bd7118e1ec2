//! `#[derive(Command)]`: which aggregate handles a command, and which field names the instance.

mod expand;
mod parse;

use proc_macro2::TokenStream;

use crate::common::Errors;

/// The `Command` impl, or the errors followed by whatever impl can still be generated, so that a
/// missing `#[id]` is not reported again wherever the command is executed.
pub fn derive(input: syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let tokens = parse::CommandModel::from_input(&input, &mut errors)
        .map(|model| expand::expand(&model))
        .unwrap_or_default();
    errors.emit_after(tokens)
}
