use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned;

use super::parse::CommandModel;
use crate::common::private;

pub fn expand(model: &CommandModel) -> TokenStream {
    let private = private();
    let CommandModel {
        ident,
        aggregate,
        id_member,
        id_type,
    } = model;
    // Each piece is spanned at the user's token that it depends on, so that "not an aggregate",
    // "no handler for this command" and "id is not Display" point there.
    let aggregate_ty = quote_spanned!(aggregate.span()=> #aggregate);
    let id = quote_spanned!(id_type.span()=> ::std::string::ToString::to_string(&self.#id_member));
    quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl #private::Command for #ident {
            type Aggregate = #aggregate_ty;
            fn aggregate_id(&self) -> #private::String {
                #id
            }
        }
    }
}
