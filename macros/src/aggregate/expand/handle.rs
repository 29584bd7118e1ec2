//! One `impl Handle<Command>` per `#[handle]` method. Whether the types a handler names are the
//! aggregate's (its events, its services) is decided by the compiler, through local traits
//! spanned at the handler's types whose diagnostics say what is wrong: the macro sees only
//! tokens, and `events::Opened`, `Opened` and an alias of it are one type.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Type;

use super::{services_type, where_clause};
use crate::aggregate::parse::{AggregateModel, Emitted, Handler};
use crate::common::{last_ident, private, type_key, ungroup};

pub fn expand_handle_impl(model: &AggregateModel, handler: &Handler) -> TokenStream {
    let private = private();
    let Handler { method, .. } = handler;
    let command_arg = command_arg(handler);
    let services_arg = handler.services.as_ref().map(|ty| {
        let services = services_arg(model, ty);
        quote!(, #services)
    });
    // Each returned value becomes a variant of the event enum through `record_{i}`, the check of
    // its type; bound before the call, so that the conversions below read as a table.
    let returned = handler.emitted.named_types();
    let records: Vec<_> = (0..returned.len())
        .map(|i| format_ident!("record_{}", i))
        .collect();
    let checks = returned.iter().map(|ty| record(model, handler, ty));
    let into_events = match &handler.emitted {
        Emitted::Nothing => quote!(#private::Vec::new()),
        Emitted::One(_) => quote!(::std::vec![record_0(decided)]),
        Emitted::Tuple(types) => {
            let names: Vec<_> = (0..types.len()).map(|i| format_ident!("event_{}", i)).collect();
            quote! {{
                let (#(#names,)*) = decided;
                ::std::vec![#(#records(#names)),*]
            }}
        }
        Emitted::Optional(_) | Emitted::Many(_) => {
            quote!(::core::iter::IntoIterator::into_iter(decided)
                .map(record_0)
                .collect())
        }
    };
    let body = quote! {
        #(let #records = #checks;)*
        let decided = self.#method(#command_arg #services_arg)?;
        #private::Result::Ok(#into_events)
    };
    handle_impl(model, handler, body)
}

/// The command as the handler takes it. The runtime lends the command to the handler (it keeps
/// it to retry on a conflict), so a handler taking it by value gets a clone: checked through a
/// local trait whose message says so at the command's type. The local `command` keeps call-site
/// hygiene.
fn command_arg(handler: &Handler) -> TokenStream {
    let Handler { method, command, .. } = handler;
    if handler.command_by_ref {
        return quote!(command);
    }
    let message = format!(
        "the command handler `{method}` takes `{{Self}}` by value, so `{{Self}}` must implement `Clone`"
    );
    let note = "the runtime keeps the command to retry it after a concurrent write and hands the handler \
                a clone: add `#[derive(Clone)]` to `{Self}`, or take the command by reference (`&{Self}`)";
    let check = quote_spanned! {command.span()=>
        #[diagnostic::on_unimplemented(message = #message, label = "not `Clone`", note = #note)]
        trait OwnedCommand {
            fn owned(&self) -> Self;
        }
        impl<T: ::core::clone::Clone> OwnedCommand for T {
            fn owned(&self) -> Self {
                ::core::clone::Clone::clone(self)
            }
        }
    };
    let owned = quote_spanned!(command.span()=> <#command as OwnedCommand>::owned);
    quote!({
        #check
        #owned(command)
    })
}

/// The aggregate's services as the handler takes them: as they are when the handler writes the
/// services type as it is written where it is declared; otherwise through a local trait that
/// holds only if both are one type, with the message that an aggregate has one services type.
fn services_arg(model: &AggregateModel, taken: &Type) -> TokenStream {
    let Some((expected, origin)) = expected_services(model) else {
        return quote!(services);
    };
    if type_key(taken) == type_key(expected) {
        return quote!(services);
    }
    let first = type_key(expected);
    let message = format!(
        "an aggregate has one services type, and it is `{first}` ({origin}): take `&{first}` here, or put what \
         this handler needs into `{first}`"
    );
    let label = format!("expected `{first}`");
    let check = quote_spanned! {taken.span()=>
        #[diagnostic::on_unimplemented(message = #message, label = #label)]
        trait SameServices<S> {
            fn same(services: &S) -> &Self;
        }
        impl<S> SameServices<S> for S {
            fn same(services: &S) -> &S {
                services
            }
        }
    };
    let same = quote_spanned!(taken.span()=> <#taken as SameServices<#expected>>::same);
    quote!({
        #check
        #same(services)
    })
}

/// The aggregate's services type and where it comes from: declared, or else the one its first
/// handler that takes services takes.
fn expected_services(model: &AggregateModel) -> Option<(&Type, String)> {
    if let Some(declared) = &model.services {
        return Some((declared, "declared by `#[aggregate(services = ...)]`".to_owned()));
    }
    model.handlers.iter().find_map(|handler| {
        let services = handler.services.as_ref()?;
        Some((services, format!("taken by the handler `{}`", handler.method)))
    })
}

/// A function turning a value of the returned type `ty` into the event enum, through a local
/// trait implemented by exactly the aggregate's events (and its enum). The trait's diagnostic is
/// what the user reads when `ty` is not one of them, spanned at `ty` and naming the handler; its
/// name says what `ty` is not ("the trait `EventOfAccount` is not implemented for `i64`").
fn record(model: &AggregateModel, handler: &Handler, ty: &Type) -> TokenStream {
    let private = private();
    let enum_ident = &model.event_enum;
    let aggregate = &model.self_ident;
    let trait_name = format_ident!("EventOf{}", aggregate);
    let written = type_key(ty);
    let (message, label) = if is_plain_data(ty) {
        let example = model
            .appliers
            .first()
            .map_or_else(|| "YourEvent".to_owned(), |a| type_key(&a.event));
        let message = format!(
            "a command handler returns events, not data: `{written}` is not an event of `{aggregate}`. Return \
             the event that records the decision (e.g. `Result<{example}, {error}>`) and read data from a \
             query instead (CQS)",
            error = type_key(&handler.error),
        );
        (message, "not an event")
    } else {
        let message = format!(
            "`{written}` is returned by the command handler `{method}` but no `#[apply]` method applies it, so \
             it could never be replayed: add `#[apply] fn ...(&mut self, event: &{written})` to `impl {aggregate}`",
            method = handler.method,
        );
        (message, "not applied by any `#[apply]` method")
    };
    // `do_not_recommend`: the message of this trait is the one to show, not that of `EventOf`.
    quote_spanned! {ty.span()=>
        {
            #[diagnostic::on_unimplemented(message = #message, label = #label)]
            trait #trait_name {
                fn recorded(self) -> #enum_ident;
            }
            #[diagnostic::do_not_recommend]
            impl<T: #private::EventOf<#enum_ident>> #trait_name for T {
                fn recorded(self) -> #enum_ident {
                    #private::EventOf::into_set(self)
                }
            }
            <#ty as #trait_name>::recorded
        }
    }
}

/// Types that are certainly not events: primitives, text, references and collections of them.
/// Only picks which message explains the mistake: whether the type is an event of the
/// aggregate is the compiler's answer either way.
fn is_plain_data(ty: &Type) -> bool {
    const DATA: &[&str] = &[
        "bool", "char", "str", "String", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32",
        "u64", "u128", "usize", "f32", "f64", "HashMap", "BTreeMap", "HashSet", "BTreeSet", "Box", "Uuid",
    ];
    match ungroup(ty) {
        Type::Reference(_) | Type::Slice(_) | Type::Array(_) => true,
        other => last_ident(other).is_some_and(|last| DATA.iter().any(|name| last == name)),
    }
}

/// `impl Handle<Command>` with the given body, which sees `command` and `services`.
pub fn handle_impl(model: &AggregateModel, handler: &Handler, body: TokenStream) -> TokenStream {
    let private = private();
    let self_ty = &model.item.self_ty;
    let enum_ident = &model.event_enum;
    let Handler { command, error, .. } = handler;
    // A wrong error type is reported by rustc at the user's type, where the bound is explained.
    let error_ty = quote_spanned!(error.span()=> #error);
    let services_ty = services_type(model);
    // The impl itself is spanned at the handler, so that "`Handle<Withdraw>` is not implemented,
    // but `Handle<Deposit>` is" points at the `deposit` handler rather than at `#[aggregate]`. Its
    // items stay at the call site: `self`, `command` and `services` must share one hygiene context
    // with the body even when the impl block comes out of a `macro_rules!` macro.
    let items = quote! {
        type Error = #error_ty;

        #[allow(unused_variables)]
        fn handle(
            &self,
            command: &#command,
            services: &#services_ty,
        ) -> #private::Result<#private::Vec<#enum_ident>, Self::Error> {
            #body
        }
    };
    let (impl_generics, _, _) = model.item.generics.split_for_impl();
    let where_clause = where_clause(model);
    quote_spanned! {handler.name_span=>
        #[automatically_derived]
        impl #impl_generics #private::Handle<#command> for #self_ty #where_clause {
            #items
        }
    }
}
