//! `#[derive(Command)]`: which aggregate handles a command, and which field names the instance.

mod expand;
mod parse;

use proc_macro2::TokenStream;

pub fn derive(input: syn::DeriveInput) -> syn::Result<TokenStream> {
    let model = parse::CommandModel::from_input(&input)?;
    Ok(expand::expand(&model))
}
