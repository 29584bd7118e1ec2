//! The parts that `#[on]`, `#[reset]` and `#[query]` signatures share: the order of the
//! parameters, the connection, and the `Result` they return.

use proc_macro2::Span;
use quote::quote;
use syn::spanned::Spanned;
use syn::{ImplItemFn, PatType, ReturnType, Type};

use super::handler::is_envelope;
use super::Role;
use crate::common::{generic_args, is_unit, last_ident, single_arg, taken, type_key, ungroup, Errors, Taken};

/// Parameters written connection first and event (or query) last, as in `(&self, db: &mut
/// PgConnection, event: &Opened)`: reported once, at the parameters, and returned in the expected
/// order, so that each is then checked as what it was meant to be.
pub fn reorder_swapped<'a>(args: Vec<&'a PatType>, role: Role, errors: &mut Errors) -> Vec<&'a PatType> {
    let (Some(first), Some(last)) = (args.first().copied(), args.last().copied()) else {
        return args;
    };
    let first_writes = matches!(taken(&first.ty), Taken::Exclusive(_));
    let last_shared = matches!(taken(&last.ty), Taken::Shared(_));
    if args.len() < 2 || args.len() > 3 || !first_writes || !last_shared || is_envelope(last) {
        return args;
    }
    let (what, subject) = match role {
        Role::Query => ("a `#[query]` method", "the query"),
        _ => ("a projection handler", "the event"),
    };
    let middle = match args.len() {
        3 => format!("{}: {}, ", pattern(args[1]), type_key(&args[1].ty)),
        _ => String::new(),
    };
    errors.at(
        quote!(#first, #last),
        format!(
            "{what} takes {subject} first and the connection last: write `(&self, {}: {}, {middle}{}: {})`",
            pattern(last),
            type_key(&last.ty),
            pattern(first),
            type_key(&first.ty),
        ),
    );
    let mut args = args;
    let end = args.len() - 1;
    args.swap(0, end);
    args
}

/// A parameter's pattern as written, e.g. `db` or `_event`.
fn pattern(arg: &PatType) -> String {
    let pat = &arg.pat;
    quote!(#pat).to_string()
}

/// The `C` of `db: &mut C` in a handler or `#[reset]` method.
pub fn writing_connection(arg: &PatType, role: Role, errors: &mut Errors) -> Option<Type> {
    let what = role.what();
    match taken(&arg.ty) {
        Taken::Exclusive(connection) => {
            if let Some(inner) = read_only_inner(connection) {
                errors.at(
                    &arg.ty,
                    format!(
                        "{what} writes to the read model: take the connection itself, `db: &mut {}`; \
                         `ReadOnly` is for `#[query]` methods",
                        type_key(inner)
                    ),
                );
                return None;
            }
            Some(connection.clone())
        }
        other => {
            errors.at(
                ungroup(&arg.ty),
                format!(
                    "{what} writes through the read-model connection, by exclusive reference: write `db: &mut {}`",
                    type_key(other.referent())
                ),
            );
            None
        }
    }
}

/// The `C` of `db: &mut ReadOnly<'_, C>` in a `#[query]` method.
pub fn read_only_connection(arg: &PatType, errors: &mut Errors) -> Option<Type> {
    let written = taken(&arg.ty);
    match (read_only_inner(written.referent()), &written) {
        (Some(inner), Taken::Exclusive(_)) => Some(inner.clone()),
        (Some(inner), _) => {
            errors.at(
                &arg.ty,
                format!(
                    "`ReadOnly` reads through `&mut self`: take `db: &mut ReadOnly<'_, {}>`",
                    type_key(inner)
                ),
            );
            Some(inner.clone())
        }
        (None, _) if last_ident(written.referent()).is_some_and(|i| i == "ReadOnly") => {
            errors.at(
                &arg.ty,
                "`ReadOnly` names the connection it wraps: take `db: &mut ReadOnly<'_, PgConnection>` \
                 (or `SqliteConnection`)",
            );
            None
        }
        (None, _) => {
            errors.at(
                &arg.ty,
                format!(
                    "queries cannot write: take `db: &mut ReadOnly<'_, {}>`, a handle on the same connection \
                     that only reads",
                    type_key(written.referent())
                ),
            );
            None
        }
    }
}

/// The `C` of `ReadOnly<'_, C>`.
fn read_only_inner(ty: &Type) -> Option<&Type> {
    single_arg(ty, "ReadOnly")
}

/// Checks a `Result<(), E>` return type; returns where a wrong error type is reported.
pub fn unit_result(method: &ImplItemFn, role: Role, errors: &mut Errors) -> Span {
    let (returns_data, missing) = match role {
        Role::Reset => (
            "a `#[reset]` method empties or recreates the read model and returns `Result<(), E>`",
            "a `#[reset]` method returns `Result<(), E>`, so that a failure stops the rebuild: add \
             `-> Result<(), sqlx::Error>`",
        ),
        _ => (
            "projection handlers write to the read model and return `Result<(), E>`; answer questions with \
             `#[query]` methods",
            "projection handlers return `Result<(), E>`, so that a failure reaches the runner (which retries, \
             then stops or dead-letters the event): add `-> Result<(), sqlx::Error>`",
        ),
    };
    let ty = match &method.sig.output {
        ReturnType::Type(_, ty) => ty,
        ReturnType::Default => {
            errors.at_span(method.sig.paren_token.span.close(), missing);
            return method.sig.ident.span();
        }
    };
    match result_type(ty) {
        Some((ok, error_span)) if is_unit(ok) => error_span,
        Some((ok, error_span)) => {
            errors.at(ok, returns_data);
            error_span
        }
        None => {
            errors.at(ty, returns_data);
            ty.span()
        }
    }
}

/// The `Ok` type of `Result<T, E>` (or of an alias `Result<T>`), and the span of the error type
/// (the whole type for an alias), where diagnostics about the error point.
pub fn result_type(ty: &Type) -> Option<(&Type, Span)> {
    match generic_args(ty, "Result")?.as_slice() {
        [ok] => Some((ok, ty.span())),
        [ok, error] => Some((ok, error.span())),
        _ => None,
    }
}
