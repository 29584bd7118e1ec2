use std::collections::HashSet;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Type;

use super::parse::{Handler, ProjectionModel, QueryMethod};
use crate::common::{distinct_stored_names, private, type_key};

/// The user's impl block, then in one `const _` block the local helper traits, the `Projection`
/// impl, one `Answer` impl per `#[query]` method and the stored-name checks.
pub fn expand(model: &ProjectionModel) -> TokenStream {
    let item = &model.item;
    // Every method names a connection once there are no errors; without one there is no store.
    let Some((_, store_connection)) = &model.store_connection else {
        return quote!(#item);
    };
    let context = Context::new(model, store_connection);
    let helpers = expand_helpers(&context);
    let projection_impl = expand_projection_impl(&context);
    let answer_impls = model
        .queries
        .iter()
        .map(|query| expand_answer_impl(&context, query));
    let name_checks = expand_unique_name_checks(model);
    quote! {
        #item

        // Some closures are spanned at the user's types, for the diagnostics; clippy would take
        // them for the user's own code.
        #[allow(clippy::redundant_closure)]
        const _: () = {
            #helpers
            #projection_impl
            #(#answer_impls)*
            #name_checks
        };
    }
}

struct Context<'m> {
    model: &'m ProjectionModel,
    private: TokenStream,
    /// The connection type the store comes from, as first written.
    connection: &'m Type,
    connection_key: String,
}

impl<'m> Context<'m> {
    fn new(model: &'m ProjectionModel, connection: &'m Type) -> Self {
        Self {
            model,
            private: private(),
            connection,
            connection_key: type_key(connection),
        }
    }

    /// `<C as ReadConnection>::Store`, spanned at the first connection type so that "not a
    /// read-model connection" points there.
    fn store(&self) -> TokenStream {
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
    fn apply_fn(&self, body: Option<TokenStream>) -> TokenStream {
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
    fn apply_batch_fn(&self, body: TokenStream) -> TokenStream {
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
    fn reset_fn(&self, body: TokenStream, named: bool) -> TokenStream {
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
    fn answer_fn(&self, query: &Type, body: Option<TokenStream>) -> TokenStream {
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
    fn differs(&self, connection: &Type) -> bool {
        type_key(connection) != self.connection_key
    }

    /// The runner's connection as the connection type a method takes.
    fn connection_arg(&self, connection: Option<&Type>) -> TokenStream {
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
    fn read_only_arg(&self, connection: Option<&Type>) -> TokenStream {
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
fn private_at(span: Span) -> TokenStream {
    private()
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}

/// `<Q as Query>::Output`, spanned at the query type, where "not a Chronicle query" is reported.
fn query_output(query: &Type) -> TokenStream {
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
fn failure(span: Span) -> TokenStream {
    quote_spanned!(span=> |error| HandlerFailure::into_handler_error(error))
}

/// Local traits whose diagnostics explain the rule when the user's types do not fit: the error
/// type, the connection type, and a query method's answer type.
fn expand_helpers(context: &Context) -> TokenStream {
    let Context { model, private, .. } = context;
    let projection = &model.self_ident;

    let failure_message =
        format!("`{{Self}}` cannot be the error type of a method of projection `{projection}`");
    let failure = quote! {
        #[diagnostic::on_unimplemented(
            message = #failure_message,
            label = "not an error that can be boxed",
            note = "`#[on]`, `#[reset]` and `#[query]` methods return `Result<_, E>` where \
                    `E: Into<Box<dyn std::error::Error + Send + Sync>>`, e.g. `sqlx::Error` or an error type of your own"
        )]
        trait HandlerFailure {
            fn into_handler_error(self) -> #private::HandlerError;
        }

        impl<E> HandlerFailure for E
        where
            E: ::core::convert::Into<
                #private::Box<dyn ::std::error::Error + ::core::marker::Send + ::core::marker::Sync>,
            >,
        {
            fn into_handler_error(self) -> #private::HandlerError {
                #private::HandlerError::new(self)
            }
        }
    };

    let mut writers = model
        .handlers
        .iter()
        .filter_map(|h| h.connection.as_ref())
        .chain(model.resets.iter().filter_map(|r| r.connection.as_ref()));
    let cast_writer = writers.any(|ty| context.differs(ty));
    let cast_reader = model
        .queries
        .iter()
        .filter_map(|q| q.connection.as_ref())
        .any(|ty| context.differs(ty));
    // A method whose connection is written unlike the store's is checked to take the same type,
    // by the compiler (only it knows whether `Db` and `PgConnection` are one type), with a
    // message for writing methods and one for queries.
    let (first_method, expected) = match &model.store_connection {
        Some((method, connection)) => (method.to_string(), type_key(connection)),
        None => (String::new(), String::new()),
    };
    let same_connection = cast_writer.then(|| {
        let message = format!(
            "a projection's read model lives in one store, and `{first_method}` uses `{expected}`: take \
             `db: &mut {expected}` here too, not `{{Self}}`"
        );
        let label = format!("expected `{expected}`");
        quote! {
            #[diagnostic::on_unimplemented(message = #message, label = #label)]
            trait SameConnection<C>: ::core::marker::Sized {
                fn same(connection: &mut C) -> &mut Self;
            }

            impl<C> SameConnection<C> for C {
                fn same(connection: &mut C) -> &mut C {
                    connection
                }
            }
        }
    });
    let same_read_only = cast_reader.then(|| {
        let message = format!(
            "a projection's read model lives in one store, and `{first_method}` uses `{expected}`: take \
             `db: &mut ReadOnly<'_, {expected}>` here, not `{{Self}}`"
        );
        let label = format!("expected `{expected}`");
        quote! {
            #[diagnostic::on_unimplemented(message = #message, label = #label)]
            trait SameReadOnly<C>: ::core::marker::Sized {
                fn same<'a, 'c>(db: &'a mut #private::ReadOnly<'c, C>) -> &'a mut #private::ReadOnly<'c, Self>;
            }

            impl<C> SameReadOnly<C> for C {
                fn same<'a, 'c>(db: &'a mut #private::ReadOnly<'c, C>) -> &'a mut #private::ReadOnly<'c, C> {
                    db
                }
            }
        }
    });

    let query_output = (!model.queries.is_empty()).then(|| {
        let message = format!(
            "this `#[query]` method of `{projection}` answers with `{{Self}}`, but its query's `output` is `{{O}}`"
        );
        quote! {
            #[diagnostic::on_unimplemented(
                message = #message,
                label = "expected `{O}`",
                note = "return `Result<{O}, E>`, or change the query's `#[query(output = ...)]`"
            )]
            trait QueryOutput<O> {
                fn output(self) -> O;
            }

            impl<O> QueryOutput<O> for O {
                fn output(self) -> O {
                    self
                }
            }
        }
    });

    quote! {
        #failure
        #same_connection
        #same_read_only
        #query_output
    }
}

fn event_name(private: &TokenStream, ty: &Type) -> TokenStream {
    // Spanned at the handler's event type, so "is not a Chronicle event" points there.
    quote_spanned!(ty.span()=> <#ty as #private::Event>::NAME)
}

fn expand_projection_impl(context: &Context) -> TokenStream {
    let Context { model, private, .. } = context;
    let self_ty = &model.item.self_ty;
    let name = &model.name;
    let version = Literal::u32_unsuffixed(model.version);
    let has_reset = !model.resets.is_empty();
    let store = context.store();
    let event_names = model.handlers.iter().map(|h| event_name(private, &h.event));
    let arms = model
        .handlers
        .iter()
        .map(|handler| expand_dispatch(context, handler));
    let apply = context.apply_fn(Some(quote! {
        #private::Box::pin(async move {
            #(#arms)*
            #private::Result::Ok(())
        })
    }));
    let reset = match model.resets.first() {
        Some(reset) => {
            let method = &reset.method;
            let connection = context.connection_arg(reset.connection.as_ref());
            let failure = failure(reset.error_span);
            let body = quote! {
                #private::Box::pin(async move { self.#method(#connection).await.map_err(#failure) })
            };
            context.reset_fn(body, true)
        }
        None => context.reset_fn(
            quote!(#private::Box::pin(::core::future::ready(#private::Result::Ok(())))),
            false,
        ),
    };
    let apply_batch = expand_apply_batch(context);
    let items = quote! {
        const NAME: &'static str = #name;
        const VERSION: u32 = #version;
        const EVENT_TYPES: &'static [&'static str] = &[#(#event_names),*];
        const HAS_RESET: bool = #has_reset;
        type Store = #store;

        #apply
        #apply_batch
        #reset
    };
    // The impl is spanned at the projection's type so that a missing `Send` or `Sync` is reported
    // there; its items stay at the call site, where `self`, `event` and `connection` live.
    quote_spanned! {self_ty.span()=>
        #[automatically_derived]
        impl #private::Projection for #self_ty {
            #items
        }
    }
}

/// One event type's branch of `apply`: decode (a failure is the handler's error, naming the
/// type), then await the handler (a batch handler with a slice of one).
fn expand_dispatch(context: &Context, handler: &Handler) -> TokenStream {
    let private = &context.private;
    let Handler { method, event, .. } = handler;
    let name = event_name(private, event);
    let decode = quote_spanned!(event.span()=> #private::decode_for_projection::<#event>);
    let connection = context.connection_arg(handler.connection.as_ref());
    let failure = failure(handler.error_span);
    let (decoded, envelope) = if handler.batch {
        (
            quote!(::core::slice::from_ref(&decoded)),
            handler
                .takes_envelope
                .then(|| quote!(::core::slice::from_ref(event),)),
        )
    } else {
        (quote!(&decoded), handler.takes_envelope.then(|| quote!(event,)))
    };
    quote! {
        if event.event_type == #name {
            let decoded = #decode(event)?;
            return self.#method(#decoded, #envelope #connection).await.map_err(#failure);
        }
    }
}

/// `apply_batch` for a projection with batch handlers: the table of their stored names and of
/// what each does with a run of its events (decode them, await the handler); the runtime's
/// `apply_runs` walks the batch, and hands every other event to `apply`. Projections without
/// batch handlers keep the trait's one-at-a-time default.
fn expand_apply_batch(context: &Context) -> TokenStream {
    let private = &context.private;
    let batch_handlers: Vec<&Handler> = context.model.handlers.iter().filter(|h| h.batch).collect();
    if batch_handlers.is_empty() {
        return TokenStream::new();
    }
    let runs = batch_handlers.iter().map(|handler| {
        let Handler { method, event, .. } = handler;
        let name = event_name(private, event);
        let decode = quote_spanned!(event.span()=> #private::decode_run::<#event>);
        let envelope = handler.takes_envelope.then(|| quote!(run,));
        let connection = context.connection_arg(handler.connection.as_ref());
        let failure = failure(handler.error_span);
        quote! {
            (#name, |projection, run, connection| #private::Box::pin(async move {
                let decoded = #decode(run)?;
                projection
                    .#method(&decoded, #envelope #connection)
                    .await
                    .map_err(|error| #private::run_failure(run, (#failure)(error)))
            }))
        }
    });
    context.apply_batch_fn(quote! {
        #private::apply_runs(self, events, connection, [#(#runs),*])
    })
}

/// `impl Answer<Q>`, spanned at the query type so that "not a Chronicle query" points there.
fn answer_impl(context: &Context, query: &Type, body: Option<TokenStream>) -> TokenStream {
    let private = private_at(query.span());
    let self_ty = &context.model.item.self_ty;
    let answer = context.answer_fn(query, body);
    quote_spanned! {query.span()=>
        #[automatically_derived]
        impl #private::Answer<#query> for #self_ty {
            #answer
        }
    }
}

fn expand_answer_impl(context: &Context, query: &QueryMethod) -> TokenStream {
    let QueryMethod {
        method,
        query: query_ty,
        ..
    } = query;
    let db = context.read_only_arg(query.connection.as_ref());
    let failure = failure(query.error_span);
    // The answer's type is checked against the query's `output` at the user's return type, by a
    // closure wholly spanned there (its parameter and its use share one hygiene context).
    let answer = match &query.output {
        Some(output) => {
            let query_output = query_output(query_ty);
            quote_spanned! {output.span()=>
                |answer| <#output as QueryOutput<#query_output>>::output(answer)
            }
        }
        None => quote!(|answer| answer),
    };
    let future = quote! {
        async move { self.#method(query, #db).await.map(#answer).map_err(#failure) }
    };
    // Boxing makes the answer `Q::Output`: spanned at the query type, like the other checks of
    // `Q: Query`, so that a query type that is not one is reported there only.
    let private_q = private_at(query_ty.span());
    let body = quote_spanned!(query_ty.span()=> #private_q::Box::pin(#future));
    answer_impl(context, query_ty, Some(body))
}

/// Two event types of one projection with the same stored name would always reach the first
/// handler.
fn expand_unique_name_checks(model: &ProjectionModel) -> TokenStream {
    let events: Vec<_> = model.handlers.iter().map(|h| &h.event).collect();
    let rest = format!(
        " handled by projection `{}` have the same stored name, so only the first handler would ever see \
         them; give one a distinct `#[event(name = \"...\")]`",
        model.self_ident
    );
    distinct_stored_names(&events, &rest)
}

/// What `#[projection]` generates next to its errors: the `Projection` impl and the `Answer`
/// impls of the queries that could be read, with bodies that never run (the program does not
/// compile). Without it, every query naming the projection and every runner of it would also
/// fail, burying the one real mistake.
pub fn expand_fallback(model: &ProjectionModel) -> TokenStream {
    let item = &model.item;
    // The methods are not called by generated code now; saying so would only add noise.
    let item = quote! {
        #[allow(dead_code)]
        #item
    };
    let Some((_, store_connection)) = &model.store_connection else {
        return item;
    };
    let context = Context::new(model, store_connection);
    let private = &context.private;
    let self_ty = &model.item.self_ty;
    let name = &model.name;
    let version = Literal::u32_unsuffixed(model.version);
    let has_reset = !model.resets.is_empty();
    let store = context.store();
    let apply = context.apply_fn(None);
    let reset = context.reset_fn(quote!(::core::unreachable!()), false);
    let mut seen = HashSet::new();
    let answers = model
        .queries
        .iter()
        .filter(|query| seen.insert(type_key(&query.query)))
        .map(|query| answer_impl(&context, &query.query, None));
    quote! {
        #item

        #[automatically_derived]
        impl #private::Projection for #self_ty {
            const NAME: &'static str = #name;
            const VERSION: u32 = #version;
            const EVENT_TYPES: &'static [&'static str] = &[];
            const HAS_RESET: bool = #has_reset;
            type Store = #store;

            #apply
            #reset
        }

        #(#answers)*
    }
}
