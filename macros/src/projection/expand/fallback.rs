//! What `#[projection]` generates next to its errors.

use std::collections::HashSet;

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::context::Context;
use super::{answer_impl, query_check};
use crate::common::type_key;
use crate::projection::parse::ProjectionModel;

/// What `#[projection]` generates next to its errors: the `Projection` impl and the `Answer`
/// impls of the queries that could be read, with bodies that never run (the program does not
/// compile). Without it, every query naming the projection and every runner of it would also
/// fail, burying the one real mistake.
pub fn expand_fallback(model: &ProjectionModel) -> TokenStream {
    let item = &model.item;
    // The methods are not called by generated code now; saying so would only add noise.
    let item = quote! {
        #[allow(dead_code)]
        #item
    };
    let Some((_, store_connection)) = &model.store_connection else {
        return item;
    };
    let context = Context::new(model, store_connection);
    let private = &context.private;
    let self_ty = &model.item.self_ty;
    let name = &model.name;
    let version = Literal::u32_unsuffixed(model.version);
    let has_reset = !model.resets.is_empty();
    let store = context.store();
    let apply = context.apply_fn(None);
    let reset = context.reset_fn(quote!(::core::unreachable!()), false);
    let mut seen = HashSet::new();
    let answers = model
        .queries
        .iter()
        .filter(|query| seen.insert(type_key(&query.query)))
        .map(|query| answer_impl(&context, &query.query, None, query_check(&query.query)));
    quote! {
        #item

        #[automatically_derived]
        impl #private::Projection for #self_ty {
            const NAME: &'static str = #name;
            const VERSION: u32 = #version;
            const EVENT_TYPES: &'static [&'static str] = &[];
            const HAS_RESET: bool = #has_reset;
            type Store = #store;

            #apply
            #reset
        }

        #(#answers)*
    }
}
