//! Local traits whose diagnostics explain the rule when the user's types do not fit.

use proc_macro2::TokenStream;
use quote::quote;

use super::context::Context;
use crate::common::type_key;

/// Local traits whose diagnostics explain the rule when the user's types do not fit: the error
/// type, the connection type, and a query method's answer type.
pub fn expand_helpers(context: &Context) -> TokenStream {
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
