use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

/// Collects every error of an item so that one compile reports all of them.
#[derive(Default)]
pub struct Errors {
    collected: Option<syn::Error>,
}

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.collected {
            Some(existing) => existing.combine(error),
            None => self.collected = Some(error),
        }
    }

    pub fn at(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub fn at_span(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    pub fn finish(self) -> syn::Result<()> {
        self.collected.map_or(Ok(()), Err)
    }
}
