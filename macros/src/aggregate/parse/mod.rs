//! The model of one `#[aggregate]`: its arguments, and the handlers and appliers of its impl
//! block, read with every problem collected.

mod args;
mod methods;

use proc_macro2::{Span, TokenStream};
use syn::{Ident, ImplItem, Item, ItemImpl, LitStr, Type};

use crate::common::{reject_generics, take_role, ungroup, Errors, Roles};

pub struct AggregateModel {
    /// The user's impl block with our method attributes removed.
    pub item: ItemImpl,
    pub self_ident: Ident,
    pub name: LitStr,
    pub event_enum: Ident,
    pub services: Option<Type>,
    /// `snapshot_every = N`, with the span of its key.
    pub snapshot_every: Option<(u64, Span)>,
    /// `snapshot_version = V`, with the span of its key.
    pub snapshot_version: Option<(u32, Span)>,
    pub handlers: Vec<Handler>,
    pub appliers: Vec<Applier>,
}

pub struct Handler {
    pub method: Ident,
    /// The handler's name, where diagnostics about its generated `Handle` impl point.
    pub name_span: Span,
    pub command: Type,
    pub command_by_ref: bool,
    pub services: Option<Type>,
    pub emitted: Emitted,
    pub error: Type,
}

/// What a handler's `Ok` type says it records.
pub enum Emitted {
    Nothing,
    One(Type),
    Tuple(Vec<Type>),
    Optional(Type),
    Many(Type),
}

impl Emitted {
    /// The types the handler returns values of, in order: each must be one of the aggregate's
    /// events, or its event enum.
    pub fn named_types(&self) -> Vec<&Type> {
        match self {
            Emitted::Nothing => Vec::new(),
            Emitted::One(ty) | Emitted::Optional(ty) | Emitted::Many(ty) => vec![ty],
            Emitted::Tuple(types) => types.iter().collect(),
        }
    }
}

pub struct Applier {
    pub method: Ident,
    pub event: Type,
}

#[derive(Clone, Copy)]
enum Role {
    Handle,
    Apply,
}

const ROLES: Roles<Role> = Roles {
    context: "an `#[aggregate]` impl",
    names: &[("handle", Role::Handle), ("apply", Role::Apply)],
    synonyms: &[],
    second_role: |_| {
        "a method is either a command handler (`#[handle]`) or an event applier (`#[apply]`), not both: \
         remove this attribute"
            .to_owned()
    },
};

impl AggregateModel {
    /// Reads the arguments and the impl block, recording every problem in `errors`. Returns a
    /// model whenever the aggregate's type is known, even if some methods were rejected: the
    /// methods that could be read are in it, so the caller can keep the rest of the program
    /// compiling while the reported mistakes are fixed.
    pub fn parse(args: TokenStream, item: TokenStream, errors: &mut Errors) -> Option<Self> {
        let args::Args {
            name,
            event: event_enum,
            services,
            snapshot_every,
            snapshot_version,
        } = args::parse_args(args, errors);
        let mut item = match syn::parse2::<Item>(item) {
            Ok(Item::Impl(item)) => item,
            Ok(other) => {
                reject_item(&other, errors);
                return None;
            }
            Err(error) => {
                errors.push(error);
                return None;
            }
        };
        if let Some((_, path, _)) = &item.trait_ {
            errors.at(
                path,
                "`#[aggregate]` goes on an inherent `impl` block (`impl Account { ... }`), not on a trait impl",
            );
        }
        // Reported; the model is still read, so that the impls next to the error keep the
        // commands of a generic aggregate handled.
        reject_generics(&item.generics, "an aggregate", errors);
        let self_ident = match ungroup(&item.self_ty) {
            Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| s.ident.clone()),
            _ => None,
        };
        if self_ident.is_none() {
            errors.at(
                &item.self_ty,
                "`#[aggregate]` needs a named type, e.g. `impl Account`",
            );
        }

        let mut handlers = Vec::new();
        let mut appliers = Vec::new();
        for impl_item in &mut item.items {
            let ImplItem::Fn(method) = impl_item else { continue };
            match take_role(method, &ROLES, errors) {
                Some((Role::Handle, _)) => {
                    handlers.extend(methods::parse_handler(method, services.as_ref(), errors));
                }
                Some((Role::Apply, _)) => appliers.extend(methods::parse_applier(method, errors)),
                None => {}
            }
        }
        let self_ident = self_ident?;
        Some(Self {
            name: name.unwrap_or_else(|| LitStr::new(&self_ident.to_string(), self_ident.span())),
            event_enum: event_enum
                .unwrap_or_else(|| Ident::new(&format!("{self_ident}Event"), self_ident.span())),
            self_ident,
            services,
            snapshot_every,
            snapshot_version,
            handlers,
            appliers,
            item,
        })
    }
}

/// `#[aggregate]` on something other than an `impl` block: say where it goes instead.
fn reject_item(item: &Item, errors: &mut Errors) {
    const EXAMPLE: &str = "`#[aggregate] impl Account { #[handle] fn ...(&self, command: C) ... #[apply] fn ...(&mut self, event: &E) ... }`";
    match item {
        Item::Struct(s) => {
            let (token, ident) = (&s.struct_token, &s.ident);
            errors.at(
                quote::quote!(#token #ident),
                format!(
                    "`#[aggregate]` goes on the `impl` block of the aggregate, not on its struct: \
                     keep `struct {ident}` (with `#[derive(Default, Clone)]`) and write {}",
                    EXAMPLE.replace("Account", &ident.to_string())
                ),
            );
        }
        Item::Enum(e) => {
            let (token, ident) = (&e.enum_token, &e.ident);
            errors.at(
                quote::quote!(#token #ident),
                format!(
                    "`#[aggregate]` goes on the `impl` block of the aggregate, not on its type: write {}",
                    EXAMPLE.replace("Account", &ident.to_string())
                ),
            );
        }
        Item::Fn(f) => {
            let (token, ident) = (&f.sig.fn_token, &f.sig.ident);
            errors.at(
                quote::quote!(#token #ident),
                format!(
                    "`#[aggregate]` goes on the `impl` block of the aggregate, not on a function: make `{ident}` a \
                     `#[handle]` or `#[apply]` method inside {}",
                    EXAMPLE.replace("Account", "YourAggregate")
                ),
            );
        }
        other => errors.at(
            other,
            format!("`#[aggregate]` goes on the `impl` block of the aggregate's type, e.g. {EXAMPLE}"),
        ),
    }
}

/// The impl block as written, minus `#[handle]` and `#[apply]`, for output next to an error.
pub fn strip_method_attributes(item: TokenStream) -> TokenStream {
    let names: Vec<&str> = ROLES.names.iter().map(|(name, _)| *name).collect();
    crate::common::strip_method_attributes(item, &names)
}
