//! Reading the types written in signatures. Every parser reads types through these helpers, so
//! a type reads the same whether it is written out, behind parentheses, or passed in as `$t:ty`
//! by a `macro_rules!` macro (which wraps it in an invisible group).
//!
//! These helpers only tell what a type *looks like* (a reference, a `Result<_, _>`, a slice).
//! Whether two types are the same type is for the compiler: generated code checks that, spanned
//! at the user's type (see the `#[aggregate]` and `#[projection]` expansions).

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use syn::{GenericArgument, Ident, PathArguments, Type};

/// The type inside invisible groups and parentheses.
pub fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(group) => ty = &group.elem,
            Type::Paren(paren) => ty = &paren.elem,
            other => return other,
        }
    }
}

/// How a parameter takes its type.
pub enum Taken<'a> {
    /// `&T`, with `T` ungrouped.
    Shared(&'a Type),
    /// `&mut T`, with `T` ungrouped.
    Exclusive(&'a Type),
    /// `T` itself (ungrouped).
    Owned(&'a Type),
}

impl<'a> Taken<'a> {
    /// The type behind the reference, or the type itself.
    pub fn referent(&self) -> &'a Type {
        match self {
            Taken::Shared(ty) | Taken::Exclusive(ty) | Taken::Owned(ty) => ty,
        }
    }
}

/// Whether `ty` is a shared reference, an exclusive one, or neither.
pub fn taken(ty: &Type) -> Taken<'_> {
    match ungroup(ty) {
        Type::Reference(r) if r.mutability.is_some() => Taken::Exclusive(ungroup(&r.elem)),
        Type::Reference(r) => Taken::Shared(ungroup(&r.elem)),
        other => Taken::Owned(other),
    }
}

/// The `T` of a slice `[T]`.
pub fn slice_element(ty: &Type) -> Option<&Type> {
    match ungroup(ty) {
        Type::Slice(slice) => Some(ungroup(&slice.elem)),
        _ => None,
    }
}

/// The type arguments of `ty` when its last path segment is `name` with angle brackets, as in
/// `Result<A, B>` or `ReadOnly<'_, C>` (lifetimes are left out).
pub fn generic_args<'a>(ty: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let Type::Path(path) = ungroup(ty) else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    Some(
        args.args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ungroup(ty)),
                _ => None,
            })
            .collect(),
    )
}

/// The one type argument of `Name<T>`, as in `Option<T>` or `Vec<T>`.
pub fn single_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    match generic_args(ty, name)?.as_slice() {
        [only] => Some(only),
        _ => None,
    }
}

/// The last identifier of a plain path type, as in `sqlx::PgConnection`.
pub fn last_ident(ty: &Type) -> Option<&Ident> {
    match ungroup(ty) {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| &s.ident),
        _ => None,
    }
}

/// The identifier of a plain path type without generic arguments (`MoneyDeposited`,
/// `events::MoneyDeposited`): what an event enum's variant is named after.
pub fn plain_name(ty: &Type) -> Option<&Ident> {
    match ungroup(ty) {
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            last.arguments.is_none().then_some(&last.ident)
        }
        _ => None,
    }
}

pub fn is_unit(ty: &Type) -> bool {
    matches!(ungroup(ty), Type::Tuple(t) if t.elems.is_empty())
}

/// A type's spelling as written, for messages and for the few exact comparisons that can only
/// make a message better (`a::B<C>`, not the token spacing `a :: B < C >`, and without the
/// invisible groups of `macro_rules!`).
pub fn type_key(ty: &Type) -> String {
    let spaced = flatten(quote::quote!(#ty)).to_string();
    let mut key = String::with_capacity(spaced.len());
    let mut chars = spaced.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let previous = key.chars().last();
        let glue = c == ' '
            && (matches!(next, Some(':' | '<' | '>' | ',' | ';' | ')' | ']'))
                || matches!(previous, Some(':' | '<' | '&' | '(' | '[')));
        if !glue {
            key.push(c);
        }
    }
    key
}

/// The tokens with every invisible group replaced by its contents.
fn flatten(tokens: TokenStream) -> TokenStream {
    let mut flat = TokenStream::new();
    for token in tokens {
        match token {
            TokenTree::Group(group) if group.delimiter() == Delimiter::None => {
                flat.extend(flatten(group.stream()));
            }
            TokenTree::Group(group) => {
                let mut inner = Group::new(group.delimiter(), flatten(group.stream()));
                inner.set_span(group.span());
                flat.extend([TokenTree::Group(inner)]);
            }
            other => flat.extend([other]),
        }
    }
    flat
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// `$t:ty` as a `macro_rules!` macro passes it: inside an invisible group.
    fn grouped(tokens: TokenStream) -> Type {
        let group = Group::new(Delimiter::None, tokens);
        syn::parse2(quote!(#group)).expect("a type")
    }

    #[test]
    fn types_read_the_same_through_invisible_groups() {
        let event = grouped(quote!(events::Opened));
        assert_eq!(type_key(&event), "events::Opened");
        assert_eq!(
            plain_name(&event).map(ToString::to_string).as_deref(),
            Some("Opened")
        );

        let inner = Group::new(Delimiter::None, quote!(events::Opened));
        let reference: Type = syn::parse2(quote!(&#inner)).unwrap();
        assert!(matches!(taken(&reference), Taken::Shared(ty) if type_key(ty) == "events::Opened"));

        let result = grouped(quote!(Result<#inner, Closed>));
        let args = generic_args(&result, "Result").unwrap();
        assert_eq!(
            args.iter().map(|ty| type_key(ty)).collect::<Vec<_>>(),
            ["events::Opened", "Closed"]
        );
        assert!(is_unit(&grouped(quote!(()))));
    }

    #[test]
    fn single_arg_needs_exactly_one() {
        let option: Type = syn::parse2(quote!(Option<Opened>)).unwrap();
        assert!(single_arg(&option, "Option").is_some());
        let map: Type = syn::parse2(quote!(Vec<A, B>)).unwrap();
        assert!(single_arg(&map, "Vec").is_none());
        let slice: Type = syn::parse2(quote!([RecordedEvent])).unwrap();
        assert_eq!(
            slice_element(&slice).map(type_key).as_deref(),
            Some("RecordedEvent")
        );
    }
}
