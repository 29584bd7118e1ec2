use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, Item, ItemImpl, LitInt, LitStr, PatType,
    PathArguments, ReturnType, Type,
};

use crate::common::{closest, parse_keys, reject_generics, Errors, Slot};

const KEYS: &[&str] = &["name", "version"];

/// The method attributes `#[projection]` reads (and removes).
const ROLES: &[&str] = &["on", "reset", "query"];

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
    pub fn attribute(self) -> &'static str {
        match self {
            Role::On => "on",
            Role::Reset => "reset",
            Role::Query => "query",
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            Role::On => "a projection handler",
            Role::Reset => "a `#[reset]` method",
            Role::Query => "a `#[query]` method",
        }
    }
}

impl ProjectionModel {
    /// Reads the arguments and the impl block, recording every problem in `errors`. Returns a
    /// model whenever the projection's type is known, even if some methods were rejected, so the
    /// caller can keep the rest of the program compiling while the reported mistakes are fixed.
    pub fn parse(args: TokenStream, item: TokenStream, errors: &mut Errors) -> Option<Self> {
        let (name, version) = parse_args(args, errors);
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
        let self_ident = match &*item.self_ty {
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
            let Some((role, attribute)) = take_role(method, errors) else {
                continue;
            };
            let connection = match role {
                Role::On => parse_handler(method, errors).and_then(|handler| {
                    let connection = handler.connection.clone();
                    handlers.push(handler);
                    connection
                }),
                Role::Reset => parse_reset(method, attribute, errors).and_then(|reset| {
                    let connection = reset.connection.clone();
                    resets.push(reset);
                    connection
                }),
                Role::Query => parse_query(method, errors).and_then(|query| {
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

fn parse_args(args: TokenStream, errors: &mut Errors) -> (Option<LitStr>, Option<u32>) {
    let mut name = Slot::<LitStr>::default();
    let mut version = Slot::<u32>::default();
    let parser = syn::meta::parser(|meta| {
        parse_keys(meta, "projection", KEYS, errors, &mut |key, meta, errors| {
            if key == "name" {
                let value = meta.value()?;
                let lit: LitStr = value.parse().map_err(|e| {
                    // A bare word or path is most likely the name without its quotes.
                    let message = match value.parse::<syn::Path>() {
                        Ok(path) => format!(
                            "`name` takes a string: write `name = \"{}\"`",
                            crate::common::type_key(&Type::Path(syn::TypePath { qself: None, path }))
                        ),
                        Err(_) => "`name` takes a string, e.g. `name = \"bank.account_balances\"`".to_owned(),
                    };
                    syn::Error::new(e.span(), message)
                })?;
                if lit.value().trim().is_empty() {
                    errors.at(
                        &lit,
                        "a projection's `name` cannot be empty: its checkpoint is stored under it",
                    );
                }
                name.set(meta, lit, errors);
            } else {
                let invalid =
                    |span| syn::Error::new(span, "`version` takes a positive integer, e.g. `version = 2`");
                let value = meta.value()?;
                if value.peek(LitStr) {
                    let lit: LitStr = value.parse()?;
                    return Err(match lit.value().trim().parse::<u32>() {
                        Ok(number) => syn::Error::new(
                            lit.span(),
                            format!("`version` takes a number, not a string: write `version = {number}`"),
                        ),
                        Err(_) => invalid(lit.span()),
                    });
                }
                let lit: LitInt = value.parse().map_err(|e| invalid(e.span()))?;
                let value = lit.base10_parse::<u32>().map_err(|_| invalid(lit.span()))?;
                if value == 0 {
                    errors.at(
                        &lit,
                        "a projection's `version` starts at 1: bump it whenever the read model's shape changes, \
                         and the read model is rebuilt from the first event",
                    );
                }
                version.set(meta, value, errors);
            }
            Ok(())
        })
    });
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    (name.0.map(|kv| kv.value), version.0.map(|kv| kv.value))
}

/// Attributes that are never a misspelt role, even when they are spelt alike.
const NOT_ROLES: &[&str] = &[
    "doc",
    "allow",
    "warn",
    "deny",
    "forbid",
    "expect",
    "cfg",
    "cfg_attr",
    "inline",
    "must_use",
    "deprecated",
    "track_caller",
    "cold",
    "test",
    "ignore",
    "instrument",
];

/// What a method attribute probably meant, when it is not one of ours.
fn meant_role(name: &str) -> Option<&'static str> {
    if NOT_ROLES.contains(&name) {
        return None;
    }
    match name {
        // The aggregate's attributes, or the names event handlers have elsewhere.
        "apply" | "handle" | "handler" | "event" | "on_event" | "when" | "one" | "onn" => Some("on"),
        other => closest(other, &["reset", "query"]),
    }
}

/// Removes `#[on]` / `#[reset]` / `#[query]` from a method and says which it was (and where).
fn take_role(method: &mut ImplItemFn, errors: &mut Errors) -> Option<(Role, syn::Attribute)> {
    let mut role: Option<(Role, syn::Attribute)> = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attr in method.attrs.drain(..) {
        let name = attr
            .path()
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let meant = match name.as_str() {
            "on" | "reset" | "query" => name.as_str(),
            other => match meant_role(other) {
                // A misspelt role would otherwise leave a plain method and an unhandled event.
                Some(meant) => {
                    let hint = if matches!(other, "apply" | "handle") {
                        format!(
                            "`#[{other}]` belongs to `#[aggregate]`; the event handlers of a projection are \
                             `#[on]` methods"
                        )
                    } else {
                        format!("unknown attribute `#[{other}]` in a `#[projection]` impl; did you mean `#[{meant}]`?")
                    };
                    errors.at(&attr, hint);
                    meant
                }
                None => {
                    kept.push(attr);
                    continue;
                }
            },
        };
        let this = match meant {
            "on" => Role::On,
            "reset" => Role::Reset,
            _ => Role::Query,
        };
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            errors.at(
                &attr,
                format!("`#[{meant}]` takes no arguments: write `#[{meant}]` above the method"),
            );
        }
        if let Some((first, _)) = role {
            // The first attribute wins, so the method is checked once, as what it was first
            // declared to be.
            let first = first.attribute();
            errors.at(
                &attr,
                format!("this method is already `#[{first}]`; a method has one role: remove this attribute"),
            );
            continue;
        }
        role = Some((this, attr));
    }
    method.attrs = kept;
    role
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
    match method.sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(FnArg::Receiver(r)) if r.reference.is_some() => errors.at(
            r,
            format!(
                "{what} takes `&self`, not `&mut self`: a projection's state lives in its read store, written \
                 through `db`, so that one projection value can serve every runner and query"
            ),
        ),
        Some(FnArg::Receiver(r)) => errors.at(
            r,
            format!("{what} cannot take `self` by value, which would consume the projection; take `&self`"),
        ),
        _ => errors.at_span(
            name.span(),
            format!("{what} is a method: its first parameter must be `&self`"),
        ),
    }
}

fn typed_args(method: &ImplItemFn) -> Vec<&PatType> {
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

const HANDLER_EXAMPLE: &str =
    "`async fn opened(&self, event: &Opened, meta: &RecordedEvent, db: &mut PgConnection) \
                               -> Result<(), sqlx::Error>` (`meta` is optional)";

/// Parameters written connection first and event (or query) last, as in `(&self, db: &mut
/// PgConnection, event: &Opened)`: reported once, at the parameters, and returned in the expected
/// order, so that each is then checked as what it was meant to be.
fn reorder_swapped<'a>(args: Vec<&'a PatType>, role: Role, errors: &mut Errors) -> Vec<&'a PatType> {
    let (Some(first), Some(last)) = (args.first().copied(), args.last().copied()) else {
        return args;
    };
    let first_writes = matches!(peel(&first.ty), Type::Reference(r) if r.mutability.is_some());
    let last_shared = matches!(peel(&last.ty), Type::Reference(r) if r.mutability.is_none());
    if args.len() < 2 || args.len() > 3 || !first_writes || !last_shared || is_envelope(last) {
        return args;
    }
    let (what, subject) = match role {
        Role::Query => ("a `#[query]` method", "the query"),
        _ => ("a projection handler", "the event"),
    };
    let middle = match args.len() {
        3 => format!("{}: {}, ", pattern(args[1]), type_key_as_written(&args[1].ty)),
        _ => String::new(),
    };
    errors.at(
        quote!(#first, #last),
        format!(
            "{what} takes {subject} first and the connection last: write `(&self, {}: {}, {middle}{}: {})`",
            pattern(last),
            type_key_as_written(&last.ty),
            pattern(first),
            type_key_as_written(&first.ty),
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

/// A type as written, references included, e.g. `&mut ReadOnly<'_, PgConnection>`.
fn type_key_as_written(ty: &Type) -> String {
    crate::common::type_key(ty)
}

fn parse_handler(method: &ImplItemFn, errors: &mut Errors) -> Option<Handler> {
    check_common(method, Role::On, errors);
    let args = reorder_swapped(typed_args(method), Role::On, errors);
    let Some(event_arg) = args.first() else {
        errors.at_span(
            method.sig.paren_token.span.join(),
            format!("an `#[on]` handler takes the event and the read-model connection after `&self`: {HANDLER_EXAMPLE}"),
        );
        return None;
    };
    let (event, batch) = match peel(&event_arg.ty) {
        Type::Reference(r) if r.mutability.is_none() => handled_events(&r.elem, errors),
        other => {
            let (event, batch) = match other {
                Type::Reference(r) => handled_events(&r.elem, errors),
                other => match vec_element(other) {
                    Some(element) => (element, true),
                    None => (other.clone(), false),
                },
            };
            let message = if batch {
                format!(
                    "a batch handler takes its events by shared reference, as a slice: write `&[{}]`",
                    type_key(&event)
                )
            } else {
                format!(
                    "a projection handler takes the event by shared reference: write `&{}`",
                    type_key(&event)
                )
            };
            errors.at(other, message);
            (event, batch)
        }
    };
    let (envelope, connection_arg, extra) = match &args[1..] {
        [] => (None, None, &[][..]),
        // The envelope without the connection.
        [meta] if is_envelope(meta) => (Some(meta), None, &[][..]),
        [db] => (None, Some(db), &[][..]),
        [meta, db, extra @ ..] => (Some(meta), Some(db), extra),
    };
    if let Some(meta) = envelope {
        match (envelope_kind(meta), batch) {
            (None, false) => errors.at(
                &meta.ty,
                "the parameter between the event and the connection is the event's envelope (position, stream, \
                 versions, metadata): write `meta: &RecordedEvent`, or remove it",
            ),
            (None, true) => errors.at(
                &meta.ty,
                "the parameter between the events and the connection is their envelopes (positions, streams, \
                 versions, metadata), one per event: write `metas: &[RecordedEvent]`, or remove it",
            ),
            (Some(Envelope::One), true) => errors.at(
                &meta.ty,
                "a batch handler takes one envelope per event, as a slice like its events: write \
                 `metas: &[RecordedEvent]`",
            ),
            (Some(Envelope::Many), false) => errors.at(
                &meta.ty,
                format!(
                    "a handler of one event takes that event's envelope alone: write `meta: &RecordedEvent`, or take \
                     the events as a slice, `&[{}]`, to handle runs of them at once",
                    type_key(&event)
                ),
            ),
            (Some(Envelope::One), false) | (Some(Envelope::Many), true) => {}
        }
    }
    for extra in extra {
        errors.at(
            extra,
            format!("a projection handler takes `&self`, the event, its envelope and the connection: remove this parameter; {HANDLER_EXAMPLE}"),
        );
    }
    let connection = match connection_arg {
        Some(arg) => writing_connection(arg, Role::On, errors),
        None => {
            errors.at_span(
                method.sig.paren_token.span.close(),
                format!("a projection handler writes through the read-model connection, its last parameter: add `db: &mut PgConnection` (or `&mut SqliteConnection`); {HANDLER_EXAMPLE}"),
            );
            None
        }
    };
    let error_span = unit_result(method, Role::On, errors);
    Some(Handler {
        method: method.sig.ident.clone(),
        event,
        batch,
        takes_envelope: envelope.is_some(),
        connection,
        error_span,
    })
}

fn parse_reset(method: &ImplItemFn, attribute: syn::Attribute, errors: &mut Errors) -> Option<Reset> {
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

fn parse_query(method: &ImplItemFn, errors: &mut Errors) -> Option<QueryMethod> {
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
    let query = match peel(&query_arg.ty) {
        Type::Reference(r) if r.mutability.is_none() => (*r.elem).clone(),
        other => {
            let query = match other {
                Type::Reference(r) => (*r.elem).clone(),
                other => other.clone(),
            };
            errors.at(
                other,
                format!(
                    "a `#[query]` method takes the query by shared reference: write `&{}`",
                    type_key(&query)
                ),
            );
            query
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
            Some((ok, error_span)) => (Some(ok), error_span),
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

/// The event type a handler's event parameter names, and whether it takes a slice of them (a
/// batch handler). `Vec<E>` is reported, and read as the slice it should be.
fn handled_events(referent: &Type, errors: &mut Errors) -> (Type, bool) {
    match peel(referent) {
        Type::Slice(slice) => ((*slice.elem).clone(), true),
        other => match vec_element(other) {
            Some(element) => {
                errors.at(
                    other,
                    format!(
                        "a batch handler takes its events as a slice: write `&[{}]`",
                        type_key(&element)
                    ),
                );
                (element, true)
            }
            None => (other.clone(), false),
        },
    }
}

/// The `E` of `Vec<E>`.
fn vec_element(ty: &Type) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    match (segment.ident == "Vec", args.args.first(), args.args.len()) {
        (true, Some(GenericArgument::Type(element)), 1) => Some(element.clone()),
        _ => None,
    }
}

/// How a parameter written as an envelope takes it: `&RecordedEvent` for one event,
/// `&[RecordedEvent]` for a batch handler's run.
#[derive(Clone, Copy, PartialEq)]
enum Envelope {
    One,
    Many,
}

/// Whether a parameter is written as an envelope, and which kind.
fn envelope_kind(arg: &PatType) -> Option<Envelope> {
    let Type::Reference(r) = peel(&arg.ty) else {
        return None;
    };
    if r.mutability.is_some() {
        return None;
    }
    let (ty, kind) = match peel(&r.elem) {
        Type::Slice(slice) => (&*slice.elem, Envelope::Many),
        other => (other, Envelope::One),
    };
    last_ident(ty)
        .is_some_and(|i| i == "RecordedEvent")
        .then_some(kind)
}

/// Whether a parameter is written as an envelope of either kind.
fn is_envelope(arg: &PatType) -> bool {
    envelope_kind(arg).is_some()
}

/// The `C` of `db: &mut C` in a handler or `#[reset]` method.
fn writing_connection(arg: &PatType, role: Role, errors: &mut Errors) -> Option<Type> {
    let what = role.what();
    match peel(&arg.ty) {
        Type::Reference(r) if r.mutability.is_some() => {
            if let Some(inner) = read_only_inner(&r.elem) {
                errors.at(
                    &arg.ty,
                    format!(
                        "{what} writes to the read model: take the connection itself, `db: &mut {}`; \
                         `ReadOnly` is for `#[query]` methods",
                        type_key(&inner)
                    ),
                );
                return None;
            }
            Some((*r.elem).clone())
        }
        other => {
            let inner = match other {
                Type::Reference(r) => &*r.elem,
                other => other,
            };
            errors.at(
                other,
                format!(
                    "{what} writes through the read-model connection, by exclusive reference: write `db: &mut {}`",
                    type_key(inner)
                ),
            );
            None
        }
    }
}

/// The `C` of `db: &mut ReadOnly<'_, C>` in a `#[query]` method.
fn read_only_connection(arg: &PatType, errors: &mut Errors) -> Option<Type> {
    let written = match peel(&arg.ty) {
        Type::Reference(r) => &*r.elem,
        other => other,
    };
    match (read_only_inner(written), peel(&arg.ty)) {
        (Some(inner), Type::Reference(r)) if r.mutability.is_some() => Some(inner),
        (Some(inner), _) => {
            errors.at(
                &arg.ty,
                format!(
                    "`ReadOnly` reads through `&mut self`: take `db: &mut ReadOnly<'_, {}>`",
                    type_key(&inner)
                ),
            );
            Some(inner)
        }
        (None, _) if last_ident(written).is_some_and(|i| i == "ReadOnly") => {
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
                    type_key(written)
                ),
            );
            None
        }
    }
}

/// The `C` of `ReadOnly<'_, C>`.
fn read_only_inner(ty: &Type) -> Option<Type> {
    let Type::Path(path) = peel(ty) else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "ReadOnly" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty.clone()),
        _ => None,
    })
}

/// Checks a `Result<(), E>` return type; returns where a wrong error type is reported.
fn unit_result(method: &ImplItemFn, role: Role, errors: &mut Errors) -> Span {
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
        Some((ok, error_span)) if is_unit(&ok) => error_span,
        Some((ok, error_span)) => {
            errors.at(&ok, returns_data);
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
fn result_type(ty: &Type) -> Option<(Type, Span)> {
    let Type::Path(path) = peel(ty) else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    match types[..] {
        [ok] => Some((ok.clone(), ty.span())),
        [ok, error] => Some((ok.clone(), error.span())),
        _ => None,
    }
}

/// The type inside invisible groups (a `$t:ty` of a `macro_rules!` macro) and parentheses.
fn peel(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(group) => ty = &group.elem,
            Type::Paren(paren) => ty = &paren.elem,
            other => return other,
        }
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(peel(ty), Type::Tuple(t) if t.elems.is_empty())
}

fn last_ident(ty: &Type) -> Option<&Ident> {
    match peel(ty) {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| &s.ident),
        _ => None,
    }
}

/// How a connection type is compared across methods: its last path segment as written, so
/// `sqlx::PgConnection` and `PgConnection` agree (the compiler checks that they are one type).
pub fn connection_key(ty: &Type) -> String {
    let ty = peel(ty);
    match ty {
        Type::Path(path) if path.qself.is_none() => match path.path.segments.last() {
            Some(last) => type_key(&Type::Path(syn::TypePath {
                qself: None,
                path: last.clone().into(),
            })),
            None => type_key(ty),
        },
        _ => type_key(ty),
    }
}

/// A type's spelling with references peeled, to compare the types different methods name.
pub fn type_key(ty: &Type) -> String {
    crate::common::type_key(peel(ty))
}

/// The impl block as written, minus our method attributes, for output next to an error.
pub fn strip_method_attributes(item: TokenStream) -> TokenStream {
    crate::common::strip_method_attributes(item, ROLES)
}
