use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::{CommandModel, IdField};
use crate::common::private;

pub fn expand(model: &CommandModel) -> TokenStream {
    let private = private();
    let CommandModel {
        ident,
        aggregate,
        id,
        creates,
    } = model;
    // Each piece is spanned at the user's token that it depends on, so that "not an aggregate",
    // "no handler for this command" and "id is not Display" point there.
    let aggregate_ty = quote_spanned!(aggregate.span()=> #aggregate);
    let id = match id {
        Some(id) => expand_id(model, id),
        // The missing `#[id]` is already reported; this impl only keeps the rest compiling.
        None => quote!(::core::unreachable!()),
    };
    let creates = creates.then(|| {
        quote!(
            const CREATES: bool = true;
        )
    });
    let items = quote! {
        type Aggregate = #aggregate_ty;
        #creates
        fn aggregate_id(&self) -> #private::String {
            #id
        }
    };
    // What the aggregate's state must be is checked once, by `#[aggregate]`; the bound (which
    // holds for every aggregate, higher-ranked so that it is assumed here rather than checked)
    // keeps a state without `Default` from being reported again at every command.
    let state_bound = quote!(where for<'__state> #aggregate_ty: #private::AggregateState);
    // The impl is spanned at the command's name; its items stay at the call site, so that `self`
    // is one and the same in the signature and the body.
    quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl #private::Command for #ident #state_bound {
            #items
        }
    }
}

/// The id as text, through a local trait whose diagnostic explains the rule when the `#[id]`
/// field's type is not `Display` (rustc's own message would only mention `ToString`).
fn expand_id(model: &CommandModel, id: &IdField) -> TokenStream {
    let IdField { member, ty } = id;
    let message = format!(
        "the `#[id]` field of command `{}` must implement `Display`, and `{{Self}}` does not",
        model.ident
    );
    let note = "the id becomes part of the stream id as text: implement `std::fmt::Display` for `{Self}`, \
                or mark a `String`, integer or `Uuid` field as `#[id]`";
    // The check is spanned at the field's type, so its notes point there and not into the derive.
    let check = quote_spanned! {ty.span()=>
        #[diagnostic::on_unimplemented(message = #message, label = "not `Display`", note = #note)]
        trait CommandId {
            fn command_id(&self) -> ::std::string::String;
        }
        impl<T: ?::core::marker::Sized + ::core::fmt::Display> CommandId for T {
            fn command_id(&self) -> ::std::string::String {
                ::std::string::ToString::to_string(self)
            }
        }
    };
    let command_id = quote_spanned!(ty.span()=> <#ty as CommandId>::command_id);
    quote! {
        #check
        #command_id(&self.#member)
    }
}
