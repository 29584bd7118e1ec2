use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::{AggregateModel, Emitted, Handler};
use crate::common::{plain_name, private, type_key};

pub fn expand(model: &AggregateModel) -> TokenStream {
    let item = &model.item;
    let event_enum = expand_event_enum(model);
    let aggregate_impl = expand_aggregate_impl(model);
    let handle_impls = model.handlers.iter().map(|h| expand_handle_impl(model, h));
    let name_checks = expand_unique_name_checks(model);
    quote! {
        #item
        #event_enum
        #aggregate_impl
        #(#handle_impls)*
        #name_checks
    }
}

fn expand_event_enum(model: &AggregateModel) -> TokenStream {
    let private = private();
    let enum_ident = &model.event_enum;
    let events: Vec<_> = model.appliers.iter().map(|a| &a.event).collect();
    let variants: Vec<_> = events.iter().filter_map(|ty| plain_name(ty)).collect();
    // Spanned at the applier's argument type, so "is not a Chronicle event" points there.
    let as_event: Vec<_> = events
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as #private::Event>))
        .collect();
    let doc = enum_doc(model);
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
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
        impl #private::EventSet for #enum_ident {
            const TYPES: &'static [(&'static str, u32)] = &[#((#as_event::NAME, #as_event::VERSION)),*];

            fn event_type(&self) -> &'static str {
                match self {
                    #(Self::#variants(_) => #as_event::NAME,)*
                }
            }

            fn event_version(&self) -> u32 {
                match self {
                    #(Self::#variants(_) => #as_event::VERSION,)*
                }
            }

            fn to_payload(&self) -> #private::Result<#private::Box<#private::RawValue>, #private::JsonError> {
                match self {
                    #(Self::#variants(event) => #private::encode_payload(event),)*
                }
            }

            fn decode(
                event_type: &str,
                event_version: u32,
                payload: &#private::RawValue,
            ) -> #private::Result<Self, #private::DecodeError> {
                #(
                    if event_type == #as_event::NAME {
                        return #private::decode_payload::<#events>(event_version, payload).map(Self::#variants);
                    }
                )*
                #private::Result::Err(#private::DecodeError::UnknownType(event_type.into()))
            }
        }
    }
}

fn expand_aggregate_impl(model: &AggregateModel) -> TokenStream {
    let private = private();
    let self_ty = &model.item.self_ty;
    let (name, enum_ident) = (&model.name, &model.event_enum);
    let services = services_type(model);
    let arms = model.appliers.iter().filter_map(|applier| {
        let variant = plain_name(&applier.event)?;
        let method = &applier.method;
        Some(quote!(#enum_ident::#variant(event) => self.#method(event),))
    });
    let snapshots = expand_snapshot_items(model);
    let items = quote! {
        const NAME: &'static str = #name;
        type Event = #enum_ident;
        type Services = #services;

        fn apply(&mut self, event: &#enum_ident) {
            match event {
                #(#arms)*
            }
        }
        #snapshots
    };
    // The impl is spanned at the aggregate's type so a missing Default or Clone is reported there;
    // its items stay at the call site, where `self` and `event` of the arms live.
    quote_spanned! {self_ty.span()=>
        #[automatically_derived]
        impl #private::Aggregate for #self_ty {
            #items
        }
    }
}

/// With `snapshot_every`: the snapshot settings and the state's (de)serialization. Nothing
/// otherwise, so the trait's defaults (no snapshots) apply.
fn expand_snapshot_items(model: &AggregateModel) -> TokenStream {
    let Some((every, _)) = model.snapshot_every else {
        return TokenStream::new();
    };
    let private = private();
    let self_ty = &model.item.self_ty;
    let version = model.snapshot_version.map_or(1, |(version, _)| version);
    // Spanned at the aggregate's type, so that a state that is not `Serialize` and `Deserialize`
    // is reported there.
    let encode = quote_spanned!(self_ty.span()=> <#self_ty as #private::SnapshotState>::encode_state);
    let decode = quote_spanned!(self_ty.span()=> <#self_ty as #private::SnapshotState>::decode_state);
    quote! {
        const SNAPSHOT_EVERY: u64 = #every;
        const SNAPSHOT_VERSION: u32 = #version;

        fn to_snapshot(
            &self,
        ) -> #private::Option<#private::Result<#private::Box<#private::RawValue>, #private::JsonError>> {
            #private::Option::Some(#encode(self))
        }

        fn from_snapshot(
            state: &#private::RawValue,
        ) -> #private::Option<#private::Result<Self, #private::JsonError>> {
            #private::Option::Some(#decode(state))
        }
    }
}

fn services_type(model: &AggregateModel) -> TokenStream {
    let declared = model
        .services
        .as_ref()
        .or_else(|| model.handlers.iter().find_map(|h| h.services.as_ref()));
    match declared {
        Some(ty) => quote!(#ty),
        None => quote!(()),
    }
}

fn expand_handle_impl(model: &AggregateModel, handler: &Handler) -> TokenStream {
    let private = private();
    let Handler { method, command, .. } = handler;
    let command_arg = if handler.command_by_ref {
        quote!(command)
    } else {
        // The runtime lends the command to the handler (it keeps it to retry on a conflict), so a
        // handler taking it by value gets a clone: checked through a local trait whose message
        // says so at the command's type. The local `command` keeps call-site hygiene.
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
    };
    let services_arg = handler.services.as_ref().map(|_| quote!(, services));
    let into_events = match &handler.emitted {
        Emitted::Nothing => quote!(#private::Vec::new()),
        Emitted::One(_) => quote!(::std::vec![#private::From::from(decided)]),
        Emitted::Tuple(types) => {
            let names: Vec<_> = (0..types.len()).map(|i| format_ident!("event_{}", i)).collect();
            quote! {{
                let (#(#names,)*) = decided;
                ::std::vec![#(#private::From::from(#names)),*]
            }}
        }
        Emitted::Optional(_) | Emitted::Many(_) => {
            quote!(::core::iter::IntoIterator::into_iter(decided).map(#private::From::from).collect())
        }
    };
    let body = quote! {
        let decided = self.#method(#command_arg #services_arg)?;
        #private::Result::Ok(#into_events)
    };
    handle_impl(model, handler, body)
}

/// `impl Handle<Command>` with the given body, which sees `command` and `services`.
fn handle_impl(model: &AggregateModel, handler: &Handler, body: TokenStream) -> TokenStream {
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
    quote_spanned! {handler.name_span=>
        #[automatically_derived]
        impl #private::Handle<#command> for #self_ty {
            #items
        }
    }
}

/// Two event types of one aggregate with the same stored name would be indistinguishable in the
/// store; names come from other items' attributes, so the check runs in const evaluation.
fn expand_unique_name_checks(model: &AggregateModel) -> TokenStream {
    let private = private();
    let events: Vec<_> = model.appliers.iter().map(|a| &a.event).collect();
    let mut checks = Vec::new();
    for (i, later) in events.iter().enumerate() {
        for earlier in &events[..i] {
            let message = format!(
                "events `{}` and `{}` of aggregate `{}` have the same stored name; give one a distinct `#[event(name = \"...\")]`",
                quote!(#earlier),
                quote!(#later),
                model.self_ident
            );
            checks.push(quote_spanned! {later.span()=>
                ::core::assert!(
                    !#private::const_str_eq(<#earlier as #private::Event>::NAME, <#later as #private::Event>::NAME),
                    #message
                );
            });
        }
    }
    if checks.is_empty() {
        return TokenStream::new();
    }
    quote!(const _: () = { #(#checks)* };)
}

fn enum_doc(model: &AggregateModel) -> String {
    format!(
        "Every event that [`{}`] records, one variant per event type. Generated by `#[aggregate]`.",
        model.self_ident
    )
}

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

    let mut seen_variants = HashSet::new();
    let (variants, events): (Vec<_>, Vec<_>) = model
        .appliers
        .iter()
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
        impl #private::Aggregate for #self_ty {
            const NAME: &'static str = #name;
            type Event = #enum_ident;
            type Services = #services;

            fn apply(&mut self, _: &#enum_ident) {}
        }

        #(#handle_impls)*
    }
}
