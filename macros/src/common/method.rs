//! Reading the methods of an annotated `impl` block: which role an attribute gives a method, its
//! receiver and its typed parameters.

use proc_macro2::TokenStream;
use syn::{Attribute, FnArg, ImplItem, ImplItemFn, ItemImpl, PatType};

use super::typo::closest;
use super::Errors;

/// The roles one macro gives methods, by attribute name.
pub struct Roles<R: 'static> {
    /// Where the attributes are read, for messages: "an `#[aggregate]` impl".
    pub context: &'static str,
    pub names: &'static [(&'static str, R)],
    /// Names that our other macro or other frameworks give a role, taken for that role (the
    /// method keeps being checked as what it was meant to be) with a message saying so. Only
    /// names with a reason belong here; misspellings are caught by the typo policy.
    pub synonyms: &'static [Synonym],
    /// The message for a second role attribute on one method, given the first one's name.
    pub second_role: fn(&str) -> String,
}

/// A name another macro or framework gives a role.
pub struct Synonym {
    pub written: &'static str,
    pub meant: &'static str,
    /// What to say instead of "did you mean"; `None` to say just that.
    pub message: Option<&'static str>,
}

impl<R: Copy> Roles<R> {
    fn role(&self, name: &str) -> Option<(&'static str, R)> {
        self.names.iter().copied().find(|(known, _)| *known == name)
    }

    /// The role a name that is not ours most likely meant, and the message that says so.
    fn guess(&self, name: &str) -> Option<(&'static str, String)> {
        let did_you_mean = |meant: &str| {
            format!(
                "unknown attribute `#[{name}]` in {}; did you mean `#[{meant}]`?",
                self.context
            )
        };
        if let Some(synonym) = self.synonyms.iter().find(|s| s.written == name) {
            let message = synonym
                .message
                .map_or_else(|| did_you_mean(synonym.meant), ToOwned::to_owned);
            return Some((synonym.meant, message));
        }
        let names: Vec<&'static str> = self.names.iter().map(|(known, _)| *known).collect();
        let meant = closest(name, &names)?;
        Some((meant, did_you_mean(meant)))
    }
}

/// Removes the role attributes from a method and says which role it has (and where it was
/// given). A misspelt role is reported and taken for the role it meant, since a method left
/// without its role would only be reported again as a missing handler.
pub fn take_role<R: Copy>(
    method: &mut ImplItemFn,
    roles: &Roles<R>,
    errors: &mut Errors,
) -> Option<(R, Attribute)> {
    let mut role: Option<(R, &'static str, Attribute)> = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attr in std::mem::take(&mut method.attrs) {
        let name = attr.path().get_ident().map(ToString::to_string);
        let found = name.as_deref().and_then(|name| match roles.role(name) {
            Some(known) => Some(known),
            None => {
                let (meant, message) = roles.guess(name)?;
                errors.at(&attr, message);
                roles.role(meant)
            }
        });
        let Some((meant, this)) = found else {
            kept.push(attr);
            continue;
        };
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            errors.at(
                &attr,
                format!("`#[{meant}]` takes no arguments: write `#[{meant}]` above the method"),
            );
        }
        if let Some((_, first, _)) = &role {
            // The first attribute wins, so the method is checked once, as what it was first
            // declared to be.
            errors.at(&attr, (roles.second_role)(first));
            continue;
        }
        role = Some((this, meant, attr));
    }
    method.attrs = kept;
    role.map(|(role, _, attr)| (role, attr))
}

/// How a method takes `self`.
pub enum Receiver<'a> {
    /// `&self`
    Shared,
    /// `&mut self`
    Exclusive(&'a syn::Receiver),
    /// `self` (or `self: Type`)
    Owned(&'a syn::Receiver),
    /// An associated function, without `self`.
    Missing,
}

pub fn receiver(method: &ImplItemFn) -> Receiver<'_> {
    match method.sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some() => Receiver::Exclusive(r),
        Some(FnArg::Receiver(r)) if r.reference.is_some() => Receiver::Shared,
        Some(FnArg::Receiver(r)) => Receiver::Owned(r),
        _ => Receiver::Missing,
    }
}

/// The parameters after `self`.
pub fn typed_args(method: &ImplItemFn) -> Vec<&PatType> {
    method
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// The impl block as written, minus the given method attributes, for output next to an error:
/// the user's methods and types stay defined, so one mistake is reported once.
pub fn strip_method_attributes(item: TokenStream, attributes: &[&str]) -> TokenStream {
    match syn::parse2::<ItemImpl>(item.clone()) {
        Ok(mut item) => {
            for impl_item in &mut item.items {
                if let ImplItem::Fn(method) = impl_item {
                    method
                        .attrs
                        .retain(|a| !attributes.iter().any(|name| a.path().is_ident(name)));
                }
            }
            quote::quote!(#item)
        }
        Err(_) => item,
    }
}
