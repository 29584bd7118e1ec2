use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::validate::CompleteQuery;
use crate::common::private;

pub fn expand(query: &CompleteQuery) -> TokenStream {
    let private = private();
    let CompleteQuery {
        ident,
        output,
        read_model,
    } = query;
    // Each type is spanned at the user's token, so that "projection X does not answer query Y"
    // points at `read_model` and "cannot be sent between threads" at `output`.
    let output = quote_spanned!(output.span()=> #output);
    let read_model = quote_spanned!(read_model.span()=> #read_model);
    let items = quote! {
        type Output = #output;
        type ReadModel = #read_model;
    };
    // The impl is spanned at the query's name (a query that is not `Send + Sync` is reported
    // there); its items stay at the call site.
    quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl #private::Query for #ident {
            #items
        }
    }
}
