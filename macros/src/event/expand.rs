use proc_macro2::TokenStream;
use quote::quote_spanned;

use super::parse::EventModel;
use crate::common::private;

pub fn expand(model: &EventModel) -> TokenStream {
    let private = private();
    let EventModel {
        ident,
        name,
        version,
        version_span,
    } = model;
    let version = quote_spanned!(*version_span=> #version);
    // Spanned on the struct's name so a missing Serialize/Deserialize/Debug/Clone is reported
    // at the user's type, not inside this impl.
    quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl #private::Event for #ident {
            const NAME: &'static str = #name;
            const VERSION: u32 = #version;
        }
    }
}
