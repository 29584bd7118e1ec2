use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Collects every error of an item so that one compile reports all of them.
#[derive(Default)]
pub struct Errors {
    collected: Option<syn::Error>,
    count: usize,
}

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        self.count += (&error).into_iter().count();
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

    pub fn is_empty(&self) -> bool {
        self.collected.is_none()
    }

    /// How many errors were collected so far, to tell whether one step reported anything.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Appends every collected error to `tokens` as `compile_error!`s, after whatever could still
    /// be generated (so that one mistake does not also break every item that uses ours).
    pub fn emit_after(self, mut tokens: TokenStream) -> TokenStream {
        if let Some(error) = self.collected {
            tokens.extend(error.into_compile_error());
        }
        tokens
    }
}
