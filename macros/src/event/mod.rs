//! `#[derive(Event)]`: a stable stored name and version for an event struct, and its
//! personal-data fields (`#[pii(subject = ...)]`).

mod expand;
mod parse;
mod pii;

use proc_macro2::TokenStream;

use crate::common::Errors;

/// The `Event` impl, or the errors followed by an impl with the recoverable values, so that a
/// mistake in the attribute is not reported again at every aggregate that applies the event.
pub fn derive(input: syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let tokens = parse::EventModel::from_input(&input, &mut errors)
        .map(|model| expand::expand(&model))
        .unwrap_or_default();
    errors.emit_after(tokens)
}
