//! The check that the event types of one aggregate or projection have distinct stored names.

use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Type;

use super::{private, type_key};

/// Statements for a `const` block: one table of every event's stored name and written type, and
/// one check per event after the first, spanned at that event's type, so that a clash is reported
/// at the later of the two types. Linear in the number of events; the names come from other
/// items' attributes, so they are compared in const evaluation. `rest` follows
/// "events `A` and `B`" in the message.
pub fn distinct_stored_names(events: &[&Type], rest: &str) -> TokenStream {
    if events.len() < 2 {
        return TokenStream::new();
    }
    let private = private();
    let entries = events.iter().map(|ty| {
        let written = type_key(ty);
        quote!((<#ty as #private::Event>::NAME, #written))
    });
    let checks = events.iter().enumerate().skip(1).map(|(index, ty)| {
        let index = Literal::usize_unsuffixed(index);
        quote_spanned! {ty.span()=>
            if let ::core::option::Option::Some(clash) = #private::name_clash(EVENTS, #index, REST) {
                ::core::panic!("{}", clash.message());
            }
        }
    });
    quote! {
        const EVENTS: &[(&str, &str)] = &[#(#entries),*];
        const REST: &str = #rest;
        #(#checks)*
    }
}
