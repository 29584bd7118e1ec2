//! The context every part of a projection's expansion shares: the model, the store's
//! connection, and the trait methods' signatures with the spans their diagnostics point at.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Type;

use crate::common::{private, type_key};
use crate::projection::parse::ProjectionModel;

pub struct Context<'m> {
    pub model: &'m ProjectionModel,
    pub private: TokenStream,
    /// The connection type the store comes from, as first written.
    connection: &'m Type,
    connection_key: String,
}

impl<'m> Context<'m> {
    pub fn new(model: &'m ProjectionModel, connection: &'m Type) -> Self {
        Self {
            model,
            private: private(),
            connection,
            connection_key: type_key(connection),
        }
    }

    /// `<C as ReadConnection>::Store`, spanned at the first connection type so that "not a
    /// read-model connection" points there.
    pub fn store(&self) -> TokenStream {
        let (private, connection) = (&self.private, self.connection);
        quote_spanned!(connection.span()=> <#connection as #private::ReadConnection>::Store)
    }

    /// A trait method whose `fn` keyword carries `span` (and so, with the last token of
    /// [`boxed_result`](Self::boxed_result), does its signature): rustc checks each method against
    /// the trait there. That check fails exactly when the connection type is not a
    /// `ReadConnection` (for `apply` and `reset`, spanned at that type) or the query type is not a
    /// `Query` (for `answer`, spanned at the query), and these are then reported once, at that
    /// type. The signature's names and the body stay at the call site, where `self` and the
    /// parameters live.
    fn method(span: Span, signature: TokenStream, body: TokenStream) -> TokenStream {
        quote_spanned!(span=> fn #signature { #body })
    }

    /// `BoxFuture<'a, Result<ok, HandlerError>>`, whose last token carries `span` (see
    /// [`method`](Self::method)).
    fn boxed_result(&self, span: Span, ok: TokenStream) -> TokenStream {
        let private = &self.private;
        self.boxed(span, ok, quote!(#private::HandlerError))
    }

    /// `BoxFuture<'a, Result<ok, error>>`, whose last token carries `span`.
    fn boxed(&self, span: Span, ok: TokenStream, error: TokenStream) -> TokenStream {
        let private = &self.private;
        let mut close = proc_macro2::Punct::new('>', proc_macro2::Spacing::Alone);
        close.set_span(span);
        quote!(#private::BoxFuture<'a, #private::Result<#ok, #error> #close)
    }

    /// `Projection::apply`; without a body, one that never runs.
    pub fn apply_fn(&self, body: Option<TokenStream>) -> TokenStream {
        let (private, connection) = (&self.private, self.connection);
        let (event, db) = (param(&body, "event"), param(&body, "connection"));
        let output = self.boxed_result(connection.span(), quote!(()));
        let signature = quote! {
            apply<'a>(
                &'a self,
                #event: &'a #private::RecordedEvent,
                #db: &'a mut #connection,
            ) -> #output
        };
        Self::method(
            connection.span(),
            signature,
            body.unwrap_or_else(|| quote!(::core::unreachable!())),
        )
    }

    /// `Projection::apply_batch`, for projections with batch handlers.
    pub fn apply_batch_fn(&self, body: TokenStream) -> TokenStream {
        let (private, connection) = (&self.private, self.connection);
        let output = self.boxed(connection.span(), quote!(()), quote!(#private::BatchFailure));
        let signature = quote! {
            apply_batch<'a>(
                &'a self,
                events: &'a [#private::RecordedEvent],
                connection: &'a mut #connection,
            ) -> #output
        };
        Self::method(connection.span(), signature, body)
    }

    /// `Projection::reset` with the given body, which sees the connection if `named`.
    pub fn reset_fn(&self, body: TokenStream, named: bool) -> TokenStream {
        let connection = self.connection;
        let db = param(&named.then_some(()), "connection");
        let output = self.boxed_result(connection.span(), quote!(()));
        let signature = quote! {
            reset<'a>(
                &'a self,
                #db: &'a mut #connection,
            ) -> #output
        };
        Self::method(connection.span(), signature, body)
    }

    /// `Answer::answer`; without a body, one that never runs.
    pub fn answer_fn(&self, query: &Type, body: Option<TokenStream>) -> TokenStream {
        let (private, connection) = (&self.private, self.connection);
        let (query_arg, db) = (param(&body, "query"), param(&body, "db"));
        // Wholly spanned at the query type: its well-formedness needs `Q: Query`.
        let output = {
            let private = private_at(query.span());
            let query_output = query_output(query);
            quote_spanned! {query.span()=>
                #private::BoxFuture<'a, #private::Result<#query_output, #private::HandlerError>>
            }
        };
        let signature = quote! {
            answer<'a, 'c: 'a>(
                &'a self,
                #query_arg: &'a #query,
                #db: &'a mut #private::ReadOnly<'c, #connection>,
            ) -> #output
        };
        Self::method(
            query.span(),
            signature,
            body.unwrap_or_else(|| quote!(::core::unreachable!())),
        )
    }

    /// Whether a method's connection is written differently from the store's, so that the
    /// generated code must check that it is the same type.
    pub fn differs(&self, connection: &Type) -> bool {
        type_key(connection) != self.connection_key
    }

    /// The runner's connection as the connection type a method takes.
    pub fn connection_arg(&self, connection: Option<&Type>) -> TokenStream {
        match connection {
            Some(ty) if self.differs(ty) => {
                let store_connection = self.connection;
                let same = quote_spanned!(ty.span()=> <#ty as SameConnection<#store_connection>>::same);
                quote!(#same(connection))
            }
            _ => quote!(connection),
        }
    }

    /// The read-only handle as the one a `#[query]` method takes.
    pub fn read_only_arg(&self, connection: Option<&Type>) -> TokenStream {
        match connection {
            Some(ty) if self.differs(ty) => {
                let store_connection = self.connection;
                let same = quote_spanned!(ty.span()=> <#ty as SameReadOnly<#store_connection>>::same);
                quote!(#same(db))
            }
            _ => quote!(db),
        }
    }
}

/// The runtime's hidden module, spanned at a user's token so that a whole path built with it
/// points there (a path mixing spans is reported at the macro call).
pub fn private_at(span: Span) -> TokenStream {
    private()
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}

/// `<Q as Query>::Output`, spanned at the query type, where "not a Chronicle query" is reported.
pub fn query_output(query: &Type) -> TokenStream {
    let private = private_at(query.span());
    quote_spanned!(query.span()=> <#query as #private::Query>::Output)
}

/// A parameter's name where the body uses it, `_` where there is no body to use it.
fn param<T>(body: &Option<T>, name: &str) -> TokenStream {
    match body {
        Some(_) => {
            let ident = syn::Ident::new(name, Span::call_site());
            quote!(#ident)
        }
        None => quote!(_),
    }
}

/// The method's error as a `HandlerError`, through a closure spanned at the user's error type so
/// that an error that cannot be boxed is reported there, once: a closure, so that only its call is
/// checked (not also a `FnOnce` bound of `map_err`), and wholly spanned there, so that its
/// parameter and its use share one hygiene context.
pub fn failure(span: Span) -> TokenStream {
    quote_spanned!(span=> |error| HandlerFailure::into_handler_error(error))
}
