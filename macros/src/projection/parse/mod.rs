//! The model of one `#[projection]`: its arguments, and the handlers, reset and queries of its
//! impl block, read with every problem collected.

mod args;
mod handler;
mod query;
mod signature;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Ident, ImplItem, ImplItemFn, Item, ItemImpl, LitStr, Type};

use crate::common::{receiver, reject_generics, take_role, ungroup, Errors, Receiver, Roles, Synonym};

pub struct ProjectionModel {
    /// The user's impl block with our method attributes removed.
    pub item: ItemImpl,
    pub self_ident: Ident,
    pub name: LitStr,
    pub version: u32,
    pub handlers: Vec<Handler>,
    pub resets: Vec<Reset>,
    pub queries: Vec<QueryMethod>,
    /// The first connection type written in a signature, in declaration order, and its method:
    /// it decides the projection's read store.
    pub store_connection: Option<(Ident, Type)>,
}

/// An `#[on]` method: `async fn (&self, event: &E, [meta: &RecordedEvent,] db: &mut C) -> Result<(), Err>`,
/// or a batch handler: `async fn (&self, events: &[E], [metas: &[RecordedEvent],] db: &mut C) -> ...`.
pub struct Handler {
    pub method: Ident,
    pub event: Type,
    /// Takes a run of events as a slice.
    pub batch: bool,
    pub takes_envelope: bool,
    pub connection: Option<Type>,
    /// Where "this error type cannot be boxed" points.
    pub error_span: Span,
}

/// A `#[reset]` method: `async fn (&self, db: &mut C) -> Result<(), Err>`.
pub struct Reset {
    pub method: Ident,
    /// The `#[reset]` attribute, where "a second `#[reset]`" points.
    pub attribute: syn::Attribute,
    pub connection: Option<Type>,
    pub error_span: Span,
}

/// A `#[query]` method: `async fn (&self, query: &Q, db: &mut ReadOnly<'_, C>) -> Result<Out, Err>`.
pub struct QueryMethod {
    pub method: Ident,
    pub query: Type,
    pub output: Option<Type>,
    pub connection: Option<Type>,
    pub error_span: Span,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Role {
    On,
    Reset,
    Query,
}

impl Role {
    pub fn what(self) -> &'static str {
        match self {
            Role::On => "a projection handler",
            Role::Reset => "a `#[reset]` method",
            Role::Query => "a `#[query]` method",
        }
    }
}

/// `apply` and `handle` are what `#[aggregate]` calls its methods; `handler`, `event_handler`,
/// `on_event` and `when` are what event handlers are called by other event-sourcing frameworks
/// (Axon's `@EventHandler`, Marten's and EventStore's `When`). Whoever writes them in a projection
/// means `#[on]`. Misspellings (`#[onn]`, `#[querry]`) are left to the typo policy.
const ROLES: Roles<Role> = Roles {
    context: "a `#[projection]` impl",
    names: &[("on", Role::On), ("reset", Role::Reset), ("query", Role::Query)],
    synonyms: &[
        Synonym {
            written: "apply",
            meant: "on",
            message: Some("`#[apply]` belongs to `#[aggregate]`; the event handlers of a projection are `#[on]` methods"),
        },
        Synonym {
            written: "handle",
            meant: "on",
            message: Some("`#[handle]` belongs to `#[aggregate]`; the event handlers of a projection are `#[on]` methods"),
        },
        Synonym {
            written: "handler",
            meant: "on",
            message: None,
        },
        Synonym {
            written: "event_handler",
            meant: "on",
            message: None,
        },
        Synonym {
            written: "event",
            meant: "on",
            message: None,
        },
        Synonym {
            written: "on_event",
            meant: "on",
            message: None,
        },
        Synonym {
            written: "when",
            meant: "on",
            message: None,
        },
    ],
    second_role: |first| format!("this method is already `#[{first}]`; a method has one role: remove this attribute"),
};

impl ProjectionModel {
    /// Reads the arguments and the impl block, recording every problem in `errors`. Returns a
    /// model whenever the projection's type is known, even if some methods were rejected, so the
    /// caller can keep the rest of the program compiling while the reported mistakes are fixed.
    pub fn parse(args: TokenStream, item: TokenStream, errors: &mut Errors) -> Option<Self> {
        let (name, version) = args::parse_args(args, errors);
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
                "`#[projection]` goes on an inherent `impl` block (`impl AccountBalances { ... }`), not on a trait impl",
            );
            return None;
        }
        if !reject_generics(&item.generics, "a projection", errors) {
            return None;
        }
        let self_ident = match ungroup(&item.self_ty) {
            Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| s.ident.clone()),
            _ => None,
        };
        let Some(self_ident) = self_ident else {
            errors.at(
                &item.self_ty,
                "`#[projection]` needs a named type, e.g. `impl AccountBalances`",
            );
            return None;
        };

        let mut handlers = Vec::new();
        let mut resets = Vec::new();
        let mut queries = Vec::new();
        let mut store_connection = None;
        for impl_item in &mut item.items {
            let ImplItem::Fn(method) = impl_item else { continue };
            let Some((role, attribute)) = take_role(method, &ROLES, errors) else {
                continue;
            };
            let connection = match role {
                Role::On => handler::parse_handler(method, errors).and_then(|handler| {
                    let connection = handler.connection.clone();
                    handlers.push(handler);
                    connection
                }),
                Role::Reset => query::parse_reset(method, attribute, errors).and_then(|reset| {
                    let connection = reset.connection.clone();
                    resets.push(reset);
                    connection
                }),
                Role::Query => query::parse_query(method, errors).and_then(|query| {
                    let connection = query.connection.clone();
                    queries.push(query);
                    connection
                }),
            };
            if let (None, Some(ty)) = (&store_connection, connection) {
                store_connection = Some((method.sig.ident.clone(), ty));
            }
        }
        Some(Self {
            name: name.unwrap_or_else(|| LitStr::new(&self_ident.to_string(), self_ident.span())),
            version: version.unwrap_or(1),
            self_ident,
            handlers,
            resets,
            queries,
            store_connection,
            item,
        })
    }
}

/// `#[projection]` on something other than an `impl` block: say where it goes instead.
fn reject_item(item: &Item, errors: &mut Errors) {
    const EXAMPLE: &str =
        "`#[projection] impl AccountBalances { #[on] async fn opened(&self, event: &Opened, \
                           db: &mut PgConnection) -> Result<(), sqlx::Error> { ... } }`";
    match item {
        Item::Struct(s) => {
            let (token, ident) = (&s.struct_token, &s.ident);
            errors.at(
                quote!(#token #ident),
                format!(
                    "`#[projection]` goes on the `impl` block of the read model, not on its struct: keep \
                     `struct {ident}` and write {}",
                    EXAMPLE.replace("AccountBalances", &ident.to_string())
                ),
            );
        }
        Item::Enum(e) => {
            let (token, ident) = (&e.enum_token, &e.ident);
            errors.at(
                quote!(#token #ident),
                format!(
                    "`#[projection]` goes on the `impl` block of the read model, not on its type: write {}",
                    EXAMPLE.replace("AccountBalances", &ident.to_string())
                ),
            );
        }
        Item::Fn(f) => {
            let (token, ident) = (&f.sig.fn_token, &f.sig.ident);
            errors.at(
                quote!(#token #ident),
                format!(
                    "`#[projection]` goes on the `impl` block of the read model, not on a function: make \
                     `{ident}` an `#[on]` method inside {EXAMPLE}"
                ),
            );
        }
        Item::Trait(t) => {
            let (token, ident) = (&t.trait_token, &t.ident);
            errors.at(
                quote!(#token #ident),
                format!(
                    "`#[projection]` goes on the inherent `impl` block of a read model's type, not on a trait: \
                     write {}",
                    EXAMPLE.replace("AccountBalances", "YourReadModel")
                ),
            );
        }
        other => errors.at(
            other,
            format!("`#[projection]` goes on the `impl` block of the read model's type, e.g. {EXAMPLE}"),
        ),
    }
}

/// Checks what every method of a projection shares: `async`, `&self`, no generics.
fn check_common(method: &ImplItemFn, role: Role, errors: &mut Errors) {
    let what = role.what();
    let name = &method.sig.ident;
    if method.sig.asyncness.is_none() {
        let message = match role {
            Role::On => format!(
                "projection handlers are async: write `async fn {name}(...)`, since they write to the read model \
                 through `db`, which is awaited"
            ),
            Role::Reset => format!(
                "a `#[reset]` method is async: write `async fn {name}(...)`, since it empties the read model \
                 through `db`, which is awaited"
            ),
            Role::Query => format!(
                "`#[query]` methods are async: write `async fn {name}(...)`, since they read the read model \
                 through `db`, which is awaited"
            ),
        };
        errors.at(method.sig.fn_token, message);
    }
    reject_generics(&method.sig.generics, what, errors);
    match receiver(method) {
        Receiver::Shared => {}
        Receiver::Exclusive(r) => errors.at(
            r,
            format!(
                "{what} takes `&self`, not `&mut self`: a projection's state lives in its read store, written \
                 through `db`, so that one projection value can serve every runner and query"
            ),
        ),
        Receiver::Owned(r) => errors.at(
            r,
            format!("{what} cannot take `self` by value, which would consume the projection; take `&self`"),
        ),
        Receiver::Missing => errors.at_span(
            name.span(),
            format!("{what} is a method: its first parameter must be `&self`"),
        ),
    }
}

/// The impl block as written, minus our method attributes, for output next to an error.
pub fn strip_method_attributes(item: TokenStream) -> TokenStream {
    let names: Vec<&str> = ROLES.names.iter().map(|(name, _)| *name).collect();
    crate::common::strip_method_attributes(item, &names)
}
