//! What `#[aggregate]` generates next to its errors.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::quote;

use super::handle::handle_impl;
use super::{enum_doc, services_type, state_check, where_clause};
use crate::aggregate::parse::AggregateModel;
use crate::common::{plain_name, private, type_key};

/// What `#[aggregate]` generates next to its errors: the aggregate's traits with the commands and
/// events that could be read, and bodies that never run (the program does not compile). Without
/// it, every command naming the aggregate would also fail with "not a Chronicle aggregate" or
/// "no handler for command", burying the one real mistake.
pub fn expand_fallback(model: &AggregateModel) -> TokenStream {
    let private = private();
    let item = &model.item;
    let self_ty = &item.self_ty;
    let (name, enum_ident) = (&model.name, &model.event_enum);
    let services = services_type(model);
    let doc = enum_doc(model);
    let (impl_generics, _, _) = item.generics.split_for_impl();
    let where_clause = where_clause(model);
    let state_check = state_check(model);

    // The enum is declared outside the impl block, so it leaves out events that name the block's
    // generic parameters (a generic block is already reported).
    let params: Vec<String> = item
        .generics
        .params
        .iter()
        .filter_map(|param| match param {
            syn::GenericParam::Type(ty) => Some(ty.ident.to_string()),
            _ => None,
        })
        .collect();
    let mut seen_variants = HashSet::new();
    let (variants, events): (Vec<_>, Vec<_>) = model
        .appliers
        .iter()
        .filter(|applier| !mentions(&applier.event, &params))
        .filter_map(|applier| Some((plain_name(&applier.event)?, &applier.event)))
        .filter(|(variant, _)| seen_variants.insert(variant.to_string()))
        .unzip();

    let mut seen_commands = HashSet::new();
    let handle_impls = model
        .handlers
        .iter()
        .filter(|handler| seen_commands.insert(type_key(&handler.command)))
        .map(|handler| handle_impl(model, handler, quote!(::core::unreachable!())));

    quote! {
        #item

        #[doc = #doc]
        pub enum #enum_ident {
            #(
                #[doc = concat!("A [`", stringify!(#variants), "`] event.")]
                #variants(#events),
            )*
        }

        #(
            #[automatically_derived]
            impl ::core::convert::From<#events> for #enum_ident {
                fn from(event: #events) -> Self {
                    Self::#variants(event)
                }
            }
        )*

        #[automatically_derived]
        impl ::core::fmt::Debug for #enum_ident {
            fn fmt(&self, _: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::unreachable!()
            }
        }

        #[automatically_derived]
        impl #private::Clone for #enum_ident {
            fn clone(&self) -> Self {
                ::core::unreachable!()
            }
        }

        #[automatically_derived]
        impl #private::EventSet for #enum_ident {
            const TYPES: &'static [(&'static str, u32)] = &[];

            fn event_type(&self) -> &'static str {
                ::core::unreachable!()
            }

            fn event_version(&self) -> u32 {
                ::core::unreachable!()
            }

            fn to_payload(&self) -> #private::Result<#private::Box<#private::RawValue>, #private::JsonError> {
                ::core::unreachable!()
            }

            fn decode(
                _: &str,
                _: u32,
                _: &#private::RawValue,
            ) -> #private::Result<Self, #private::DecodeError> {
                ::core::unreachable!()
            }
        }

        #[automatically_derived]
        impl #impl_generics #private::Aggregate for #self_ty #where_clause {
            const NAME: &'static str = #name;
            type Event = #enum_ident;
            type Services = #services;

            fn apply(&mut self, _: &#enum_ident) {}
        }

        #(#handle_impls)*
        #state_check
    }
}

/// Whether a type names one of the identifiers (as a path segment anywhere in it).
fn mentions(ty: &syn::Type, idents: &[String]) -> bool {
    fn walk(tokens: TokenStream, idents: &[String]) -> bool {
        tokens.into_iter().any(|token| match token {
            proc_macro2::TokenTree::Ident(ident) => idents.iter().any(|name| ident == name),
            proc_macro2::TokenTree::Group(group) => walk(group.stream(), idents),
            _ => false,
        })
    }
    !idents.is_empty() && walk(quote!(#ty), idents)
}
