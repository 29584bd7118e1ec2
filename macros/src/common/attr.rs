use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::parse::discouraged::Speculative;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::LitStr;

use super::typo::closest;
use super::Errors;

/// A value given in an attribute, with the span of its key for "given twice" errors.
pub struct KeyValue<T> {
    pub value: T,
    pub span: Span,
}

/// One key of an attribute: empty, or set once.
pub struct Slot<T>(pub Option<KeyValue<T>>);

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> Slot<T> {
    /// Stores the value, or reports the key as given twice.
    pub fn set(&mut self, meta: &ParseNestedMeta, value: T, errors: &mut Errors) {
        let span = meta.path.span();
        if self.0.is_some() {
            errors.at_span(
                span,
                format!("`{}` is specified more than once; keep one", key_of(meta)),
            );
        } else {
            self.0 = Some(KeyValue { value, span });
        }
    }

    pub fn value(&self) -> Option<&T> {
        self.0.as_ref().map(|kv| &kv.value)
    }
}

fn key_of(meta: &ParseNestedMeta) -> String {
    meta.path
        .get_ident()
        .map_or_else(|| "?".to_owned(), ToString::to_string)
}

/// Parses `key = value, ...` pairs, handing each known key to `on_key` and reporting unknown keys
/// (with the closest known one as a suggestion) without stopping, so every problem is reported.
pub fn parse_keys(
    meta: ParseNestedMeta,
    attribute: &str,
    known: &[&str],
    errors: &mut Errors,
    on_key: &mut dyn FnMut(&str, &ParseNestedMeta, &mut Errors) -> syn::Result<()>,
) -> syn::Result<()> {
    let key = key_of(&meta);
    if known.contains(&key.as_str()) {
        if let Err(error) = on_key(&key, &meta, errors) {
            errors.push(error);
            skip_value(&meta);
        }
        return Ok(());
    }
    let expected = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = match closest(&key, known) {
        Some(suggestion) => {
            format!("unknown key `{key}` in `#[{attribute}(...)]`; did you mean `{suggestion}`?")
        }
        None => format!("unknown key `{key}` in `#[{attribute}(...)]`; the keys are {expected}"),
    };
    errors.at_span(meta.path.span(), message);
    skip_value(&meta);
    Ok(())
}

/// The value of `key = SomeType`. A quoted type (`key = "SomeType"`) is reported once and then
/// used as if it were written without quotes, so that the rest of the program still compiles
/// while the quotes are removed. `expected` completes "`key` takes ...", e.g. "the aggregate's
/// type, e.g. `aggregate = Account`".
pub fn type_value<T: Parse>(
    meta: &ParseNestedMeta,
    key: &str,
    expected: &str,
    errors: &mut Errors,
) -> syn::Result<T> {
    let value = meta.value()?;
    if !value.peek(LitStr) {
        return value
            .parse()
            .map_err(|e| syn::Error::new(e.span(), format!("`{key}` takes {expected}")));
    }
    let lit: LitStr = value.parse()?;
    let parsed = lit
        .parse::<T>()
        .map_err(|_| syn::Error::new(lit.span(), format!("`{key}` takes {expected}, not a string")))?;
    errors.at(
        &lit,
        format!(
            "`{key}` takes a type, not a string: write `{key} = {}` without the quotes",
            lit.value().trim()
        ),
    );
    Ok(parsed)
}

/// Consumes whatever follows a key we could not use (unknown, or with a value of the wrong kind),
/// so parsing goes on with the next key and the leftover tokens are not reported again as
/// "expected `,`".
fn skip_value(meta: &ParseNestedMeta) {
    let input = meta.input;
    if input.peek(syn::Token![=]) {
        let _ = input.parse::<syn::Token![=]>();
    } else if input.peek(syn::token::Paren) {
        let _ = meta.parse_nested_meta(|inner| {
            skip_value(&inner);
            Ok(())
        });
    }
    skip_to_next_key(input);
}

/// Skips one value up to the next `,` (or the end): a whole type or expression when one is there,
/// so that the commas inside `Result<A, B>` do not count, or else single tokens.
fn skip_to_next_key(input: ParseStream) {
    let at_end = |input: ParseStream| input.is_empty() || input.peek(syn::Token![,]);
    if at_end(input) {
        return;
    }
    let as_type = input.fork();
    if as_type.parse::<syn::Type>().is_ok() && at_end(&as_type) {
        input.advance_to(&as_type);
        return;
    }
    let as_expr = input.fork();
    if as_expr.parse::<syn::Expr>().is_ok() && at_end(&as_expr) {
        input.advance_to(&as_expr);
        return;
    }
    while !at_end(input) {
        if input.parse::<proc_macro2::TokenTree>().is_err() {
            return;
        }
    }
}

/// Generic and lifetime parameters are not supported on the annotated items: say so at the
/// parameters instead of failing deep inside generated code. Returns whether there were none.
pub fn reject_generics(generics: &syn::Generics, what: &str, errors: &mut Errors) -> bool {
    if generics.params.is_empty() && generics.where_clause.is_none() {
        return true;
    }
    errors.at(
        generics,
        format!("{what} cannot have generic or lifetime parameters; use concrete types"),
    );
    false
}
