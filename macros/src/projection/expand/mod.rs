//! What `#[projection]` generates: the `Projection` impl, one `Answer` impl per `#[query]`
//! method, the local helper traits their diagnostics come from, and the stored-name checks.

mod context;
mod fallback;
mod helpers;

use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Type;

use super::parse::{Handler, ProjectionModel, QueryMethod};
use crate::common::distinct_stored_names;
use context::{failure, private_at, query_output, Context};

pub use fallback::expand_fallback;

/// The user's impl block, then in one `const _` block the local helper traits, the `Projection`
/// impl, one `Answer` impl per `#[query]` method and the stored-name checks.
pub fn expand(model: &ProjectionModel) -> TokenStream {
    let item = &model.item;
    // Every method names a connection once there are no errors; without one there is no store.
    let Some((_, store_connection)) = &model.store_connection else {
        return quote!(#item);
    };
    let context = Context::new(model, store_connection);
    let helpers = helpers::expand_helpers(&context);
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

/// `impl Answer<Q>`, spanned at the query type so that "not a Chronicle query" points there,
/// followed by `check`, the one check that reports a query type that is not a `Query`: the impl
/// assumes that it is one (a higher-ranked bound, which the compiler does not check where the
/// impl is declared, and which an actual `Query` impl takes precedence over), so that its header
/// and signature do not report it again.
pub fn answer_impl(
    context: &Context,
    query: &Type,
    body: Option<TokenStream>,
    check: TokenStream,
) -> TokenStream {
    let private = private_at(query.span());
    let self_ty = &context.model.item.self_ty;
    let answer = context.answer_fn(query, body);
    quote_spanned! {query.span()=>
        #[automatically_derived]
        impl #private::Answer<#query> for #self_ty where for<'__query> #query: #private::Query {
            #answer
        }

        #check
    }
}

/// The check that a query type is a `Query`, for a method whose answer type is unknown.
pub fn query_check(query: &Type) -> TokenStream {
    let output = query_output(query);
    quote_spanned!(query.span()=> const _: ::core::marker::PhantomData<#output> = ::core::marker::PhantomData;)
}

fn expand_answer_impl(context: &Context, query: &QueryMethod) -> TokenStream {
    let QueryMethod {
        method,
        query: query_ty,
        ..
    } = query;
    let private = &context.private;
    let db = context.read_only_arg(query.connection.as_ref());
    let failure = failure(query.error_span);
    let query_output = query_output(query_ty);
    // The answer's type is checked against the query's `output` at the user's return type, by
    // the local `QueryOutput` trait, outside the impl: a query type that is not a `Query` is
    // reported there too (at the query type) and only there. Inside the impl the answer is
    // passed on as the output; closures wholly spanned there share one hygiene context.
    let (check, answer) = match &query.output {
        Some(output) => (
            quote_spanned! {output.span()=>
                const _: () = {
                    let _ = <#output as QueryOutput<#query_output>>::output;
                };
            },
            quote_spanned! {output.span()=>
                |answer| {
                    // One of the two is picked: the other is unused.
                    #[allow(unused_imports)]
                    use #private::{IsTheOutput as _, NotTheOutput as _};
                    (&#private::AnswerAs::<#output, #query_output>::NEW).convert(answer)
                }
            },
        ),
        None => (query_check(query_ty), quote!(|answer| answer)),
    };
    let future = quote! {
        async move { self.#method(query, #db).await.map(#answer).map_err(#failure) }
    };
    // Boxing makes the answer `Q::Output`: spanned at the query type, like the other checks of
    // `Q: Query`, so that a query type that is not one is reported there only.
    let private_q = private_at(query_ty.span());
    let body = quote_spanned!(query_ty.span()=> #private_q::Box::pin(#future));
    answer_impl(context, query_ty, Some(body), check)
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
