use proc_macro2::TokenStream;
use syn::{ImplItem, ItemImpl, Type};

/// A stable spelling of a type, to compare the types named in different signatures and to name
/// them in messages (`a::B<C>` rather than the token spacing `a :: B < C >`).
pub fn type_key(ty: &Type) -> String {
    let spaced = quote::quote!(#ty).to_string();
    let mut key = String::with_capacity(spaced.len());
    let mut chars = spaced.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let previous = key.chars().last();
        let glue = c == ' '
            && (matches!(next, Some(':' | '<' | '>' | ',' | ';' | ')' | ']'))
                || matches!(previous, Some(':' | '<' | '&' | '(' | '[')));
        if !glue {
            key.push(c);
        }
    }
    key
}

/// The impl block as written, minus the given method attributes, for output next to an error:
/// the user's methods and types stay defined, so one mistake is reported once.
pub fn strip_method_attributes(item: TokenStream, attributes: &[&str]) -> TokenStream {
    match syn::parse2::<ItemImpl>(item.clone()) {
        Ok(mut item) => {
            for impl_item in &mut item.items {
                if let ImplItem::Fn(method) = impl_item {
                    method
                        .attrs
                        .retain(|a| !attributes.iter().any(|name| a.path().is_ident(name)));
                }
            }
            quote::quote!(#item)
        }
        Err(_) => item,
    }
}
