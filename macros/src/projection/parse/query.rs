//! `#[reset]` and `#[query]` methods.

use syn::spanned::Spanned;
use syn::{ImplItemFn, ReturnType};

use super::signature::{read_only_connection, reorder_swapped, result_type, unit_result, writing_connection};
use super::{check_common, QueryMethod, Reset, Role};
use crate::common::{taken, type_key, typed_args, ungroup, Errors, Taken};

pub fn parse_reset(method: &ImplItemFn, attribute: syn::Attribute, errors: &mut Errors) -> Option<Reset> {
    check_common(method, Role::Reset, errors);
    let args = typed_args(method);
    let connection = match args.first() {
        Some(arg) => writing_connection(arg, Role::Reset, errors),
        None => {
            errors.at_span(
                method.sig.paren_token.span.join(),
                "a `#[reset]` method takes the read-model connection after `&self`: \
                 `async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error>`",
            );
            None
        }
    };
    for extra in args.iter().skip(1) {
        errors.at(
            extra,
            "a `#[reset]` method takes `&self` and the connection (`db: &mut PgConnection`): remove this parameter",
        );
    }
    let error_span = unit_result(method, Role::Reset, errors);
    Some(Reset {
        method: method.sig.ident.clone(),
        attribute,
        connection,
        error_span,
    })
}

pub fn parse_query(method: &ImplItemFn, errors: &mut Errors) -> Option<QueryMethod> {
    const EXAMPLE: &str = "`async fn balance(&self, query: &BalanceOf, db: &mut ReadOnly<'_, PgConnection>) \
                           -> Result<Option<i64>, sqlx::Error>`";
    check_common(method, Role::Query, errors);
    let args = reorder_swapped(typed_args(method), Role::Query, errors);
    let Some(query_arg) = args.first() else {
        errors.at_span(
            method.sig.paren_token.span.join(),
            format!(
                "a `#[query]` method takes the query and a read-only connection after `&self`: {EXAMPLE}"
            ),
        );
        return None;
    };
    let query = match taken(&query_arg.ty) {
        Taken::Shared(query) => query.clone(),
        other => {
            errors.at(
                ungroup(&query_arg.ty),
                format!(
                    "a `#[query]` method takes the query by shared reference: write `&{}`",
                    type_key(other.referent())
                ),
            );
            other.referent().clone()
        }
    };
    let connection = match args.get(1) {
        Some(arg) => read_only_connection(arg, errors),
        None => {
            errors.at_span(
                method.sig.paren_token.span.close(),
                format!("a `#[query]` method reads through a read-only connection, its last parameter: add `db: &mut ReadOnly<'_, PgConnection>`; {EXAMPLE}"),
            );
            None
        }
    };
    for extra in args.iter().skip(2) {
        errors.at(
            extra,
            format!("a `#[query]` method takes `&self`, the query and the read-only connection: remove this parameter; {EXAMPLE}"),
        );
    }
    let (output, error_span) = match &method.sig.output {
        ReturnType::Type(_, ty) => match result_type(ty) {
            Some((ok, error_span)) => (Some(ok.clone()), error_span),
            None => {
                errors.at(
                    ty,
                    format!(
                        "a `#[query]` method returns `Result<{written}, E>`: the answer (the query's `output` type), \
                         or the error that prevented it",
                        written = type_key(ty)
                    ),
                );
                (None, ty.span())
            }
        },
        ReturnType::Default => {
            errors.at_span(
                method.sig.paren_token.span.close(),
                format!("a `#[query]` method returns `Result<Answer, E>`, where Answer is the query's `output` type: {EXAMPLE}"),
            );
            (None, method.sig.ident.span())
        }
    };
    Some(QueryMethod {
        method: method.sig.ident.clone(),
        query,
        output,
        connection,
        error_span,
    })
}
