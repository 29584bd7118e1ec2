use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Type;

use super::parse::EventModel;
use crate::common::{private, type_key};

pub fn expand(model: &EventModel) -> TokenStream {
    let private = private();
    let EventModel {
        ident,
        name,
        version,
        version_span,
        upcast_from,
        pii,
    } = model;
    let pii = (!pii.is_empty()).then(|| expand_pii(pii));
    let version = quote_spanned!(*version_span=> #version);
    let upcast = upcast_from.as_ref().map(expand_upcast);
    let shapes = expand_shapes(name, &version, upcast_from.as_ref());
    let chain_checks = upcast_from
        .as_ref()
        .map(|previous| expand_chain_checks(model, previous));
    // Spanned on the struct's name so a missing Serialize/Deserialize/Debug/Clone is reported
    // at the user's type, not inside this impl.
    quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl #private::Event for #ident {
            const NAME: &'static str = #name;
            const VERSION: u32 = #version;
            #upcast
            #pii
            #shapes
        }
        #chain_checks
    }
}

/// The personal-data fields and what each reads as once forgotten; `Redact` is required of each
/// field's type there, spanned on the type.
fn expand_pii(fields: &[super::pii::PiiModel]) -> TokenStream {
    let private = private();
    let names: Vec<String> = fields.iter().map(|f| f.field.to_string()).collect();
    let subjects: Vec<String> = fields.iter().map(|f| f.subject.to_string()).collect();
    let redacted = fields.iter().map(|f| {
        let ty = &f.ty;
        quote_spanned!(ty.span()=> <#ty as #private::Redact>::redacted())
    });
    quote! {
        const PII: &'static [#private::PiiField] = &[
            #(#private::PiiField { field: #names, subject: #subjects },)*
        ];

        fn redacted(field: &str) -> #private::Option<#private::Result<#private::JsonValue, #private::JsonError>> {
            match field {
                #(#names => #private::Option::Some(#private::to_json_value(#redacted)),)*
                _ => #private::Option::None,
            }
        }
    }
}

/// The stored shapes this type reads: its own, described by `schemars` when the type derives
/// `JsonSchema` (asked by autoref specialization, so the derive is not required), then the
/// previous shape's, down the `upcast_from` chain.
fn expand_shapes(name: &syn::LitStr, version: &TokenStream, previous: Option<&Type>) -> TokenStream {
    let private = private();
    let older = previous
        .map(|previous| quote_spanned!(previous.span()=> <#previous as #private::Event>::shapes(out);));
    quote! {
        fn shapes(out: &mut #private::Vec<#private::EventShape>) {
            #[allow(unused_imports)]
            use #private::{DescribeWithSchema as _, DescribeWithout as _};
            out.push(#private::EventShape {
                // The attribute's values, not `<Self as Event>::NAME`: a type missing one of
                // `Event`'s bounds then gets one error, at the derive, not a second one here.
                name: #name,
                version: #version,
                rust_type: ::core::any::type_name::<Self>(),
                schema: (&&#private::Describe::<Self>::new()).describe(),
            });
            #older
        }
    }
}

/// The items that read older versions through the previous shape.
fn expand_upcast(previous: &Type) -> TokenStream {
    let private = private();
    // Spanned at `upcast_from = ...`, so "not an event" and a missing `From` point there.
    let as_event = quote_spanned!(previous.span()=> <#previous as #private::Event>);
    let convert = quote_spanned!(previous.span()=> #private::upcast_event::<#previous, Self>);
    quote! {
        const OLDEST_VERSION: u32 = #as_event::OLDEST_VERSION;

        fn upcast(
            event_version: u32,
            payload: &#private::RawValue,
        ) -> #private::Result<Self, #private::DecodeError> {
            #private::decode_payload::<#previous>(event_version, payload).map(|previous| #convert(previous))
        }
    }
}

/// The previous shape must be stored under the same name, one version below; both come from
/// attributes of two items, so the check runs in const evaluation.
fn expand_chain_checks(model: &EventModel, previous: &Type) -> TokenStream {
    let private = private();
    let ident = &model.ident;
    let previous_name = type_key(previous);
    let name = model.name.value();
    let name_message = format!(
        "`{previous_name}` is the previous shape of `{ident}` (`upcast_from`), so it must be stored under the same \
         name: give it `#[event(name = \"{name}\", ...)]`"
    );
    let version_message = format!(
        "`{previous_name}` is the previous shape of `{ident}` (`upcast_from`), so its version must be one below: \
         give it `#[event(version = {}, ...)]`",
        model.version - 1
    );
    let as_event = quote_spanned!(previous.span()=> <#previous as #private::Event>);
    quote_spanned! {previous.span()=>
        const _: () = {
            ::core::assert!(
                #private::const_str_eq(#as_event::NAME, <#ident as #private::Event>::NAME),
                #name_message
            );
            ::core::assert!(
                #as_event::VERSION == <#ident as #private::Event>::VERSION - 1,
                #version_message
            );
        };
    }
}
