//! `#[derive(Event)]`: a stable stored name and version for an event struct.

mod expand;
mod parse;

use proc_macro2::TokenStream;

pub fn derive(input: syn::DeriveInput) -> syn::Result<TokenStream> {
    let model = parse::EventModel::from_input(&input)?;
    Ok(expand::expand(&model))
}
