//! What `#[aggregate]` generates: the event enum, `impl Aggregate`, one `impl Handle<C>` per
//! handler, and the stored-name checks.

mod fallback;
mod handle;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::AggregateModel;
use crate::common::{distinct_stored_names, plain_name, private};

pub use fallback::expand_fallback;

pub fn expand(model: &AggregateModel) -> TokenStream {
    let item = &model.item;
    let event_enum = expand_event_enum(model);
    let aggregate_impl = expand_aggregate_impl(model);
    let handle_impls = model
        .handlers
        .iter()
        .map(|h| handle::expand_handle_impl(model, h));
    let name_checks = expand_unique_name_checks(model);
    let state_check = state_check(model);
    quote! {
        #item
        #event_enum
        #aggregate_impl
        #(#handle_impls)*
        #state_check
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

            #[automatically_derived]
            impl #private::EventOf<#enum_ident> for #events {
                fn into_set(self) -> #enum_ident {
                    #enum_ident::#variants(self)
                }
            }
        )*

        #[automatically_derived]
        impl #private::EventOf<#enum_ident> for #enum_ident {
            fn into_set(self) -> Self {
                self
            }
        }

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

            fn pii_fields(&self) -> &'static [#private::PiiField] {
                match self {
                    #(Self::#variants(_) => #as_event::PII,)*
                }
            }

            fn shapes() -> #private::Vec<#private::EventShape> {
                let mut shapes = #private::Vec::new();
                #(#as_event::shapes(&mut shapes);)*
                shapes
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
    let where_clause = where_clause(model);
    // The impl is spanned at the aggregate's type so that a missing `Send` or `Sync` of its
    // services is reported there; its items stay at the call site, where `self` and `event` of the
    // arms live.
    quote_spanned! {self_ty.span()=>
        #[automatically_derived]
        impl #private::Aggregate for #self_ty #where_clause {
            #items
        }
    }
}

/// The `where` clause of every generated impl of the aggregate's traits: the impl block's own
/// (only ever there next to the error that the block is generic), and what the state must be
/// (`Default + Clone + Send + Sync + 'static`, the supertraits of `Aggregate`). The latter is
/// higher-ranked, so that the compiler does not check it where the impl is declared: a state
/// without `Default` is reported once, by [`state_check`], instead of at every impl.
pub fn where_clause(model: &AggregateModel) -> TokenStream {
    let private = private();
    let own = model
        .item
        .generics
        .where_clause
        .iter()
        .flat_map(|w| &w.predicates);
    quote!(where #(#own,)* for<'__state> Self: #private::AggregateState)
}

/// The one check of what the state must be, spanned at the aggregate's type. None for a generic
/// impl block (already reported), whose type cannot be named outside it.
pub fn state_check(model: &AggregateModel) -> TokenStream {
    let private = private();
    let self_ty = &model.item.self_ty;
    if !model.item.generics.params.is_empty() {
        return TokenStream::new();
    }
    let assert = quote_spanned!(self_ty.span()=> <#self_ty as #private::StateCheck>::assert_state);
    quote!(const _: () = { let _ = #assert; };)
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

/// The aggregate's services type: the declared one, or else the one its first handler takes.
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

/// Two event types of one aggregate with the same stored name would be indistinguishable in the
/// store.
fn expand_unique_name_checks(model: &AggregateModel) -> TokenStream {
    let events: Vec<_> = model.appliers.iter().map(|a| &a.event).collect();
    let rest = format!(
        " of aggregate `{}` have the same stored name; give one a distinct `#[event(name = \"...\")]`",
        model.self_ident
    );
    let checks = distinct_stored_names(&events, &rest);
    if checks.is_empty() {
        return checks;
    }
    quote!(const _: () = { #checks };)
}

fn enum_doc(model: &AggregateModel) -> String {
    format!(
        "Every event that [`{}`] records, one variant per event type. Generated by `#[aggregate]`.",
        model.self_ident
    )
}
