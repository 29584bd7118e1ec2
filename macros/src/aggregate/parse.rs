use proc_macro2::Span;
use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::{
    FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, Item, ItemImpl, LitInt, LitStr, PathArguments,
    ReturnType, Type,
};

use crate::common::{closest, parse_keys, reject_generics, type_key, Errors, Slot};

const KEYS: &[&str] = &["name", "event", "services", "snapshot_every", "snapshot_version"];

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
    pub name_span: proc_macro2::Span,
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
    /// The event types a reader can see in the signature (a `Vec` of the event enum names none).
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

enum Role {
    Handle,
    Apply,
}

impl AggregateModel {
    /// Reads the arguments and the impl block, recording every problem in `errors`. Returns a
    /// model whenever the aggregate's type is known, even if some methods were rejected: the
    /// methods that could be read are in it, so the caller can keep the rest of the program
    /// compiling while the reported mistakes are fixed.
    pub fn parse(args: TokenStream, item: TokenStream, errors: &mut Errors) -> Option<Self> {
        let Args {
            name,
            event: event_enum,
            services,
            snapshot_every,
            snapshot_version,
        } = parse_args(args, errors);
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
        let concrete = reject_generics(&item.generics, "an aggregate", errors);
        let self_ident = match &*item.self_ty {
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
            match take_role(method, errors) {
                Some(Role::Handle) => handlers.extend(parse_handler(method, errors)),
                Some(Role::Apply) => appliers.extend(parse_applier(method, errors)),
                None => {}
            }
        }
        let self_ident = self_ident.filter(|_| concrete)?;
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

/// The keys of `#[aggregate(...)]` that were given.
struct Args {
    name: Option<LitStr>,
    event: Option<Ident>,
    services: Option<Type>,
    snapshot_every: Option<(u64, Span)>,
    snapshot_version: Option<(u32, Span)>,
}

fn parse_args(args: TokenStream, errors: &mut Errors) -> Args {
    let mut name = Slot::<LitStr>::default();
    let mut event = Slot::<Ident>::default();
    let mut services = Slot::<Type>::default();
    let mut snapshot_every = Slot::<u64>::default();
    let mut snapshot_version = Slot::<u32>::default();
    let parser = syn::meta::parser(|meta| {
        parse_keys(meta, "aggregate", KEYS, errors, &mut |key, meta, errors| {
            match key {
                "name" => {
                    let lit: LitStr = meta.value()?.parse().map_err(|e| {
                        syn::Error::new(e.span(), "`name` takes a string, e.g. `name = \"bank.Account\"`")
                    })?;
                    if lit.value().trim().is_empty() {
                        errors.at(&lit, "an aggregate's `name` cannot be empty");
                    }
                    name.set(meta, lit, errors);
                }
                "event" => {
                    let ident: Ident = meta.value()?.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`event` takes the name of the enum to generate, e.g. `event = AccountEvent`",
                        )
                    })?;
                    event.set(meta, ident, errors);
                }
                "snapshot_every" => {
                    let lit: LitInt = meta.value()?.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`snapshot_every` takes how many events apart snapshots are taken, e.g. `snapshot_every = 100`",
                        )
                    })?;
                    match lit.base10_parse::<u64>() {
                        Ok(0) => errors.at(
                            &lit,
                            "`snapshot_every` must be at least 1; to keep no snapshots, remove the key",
                        ),
                        Ok(every) => snapshot_every.set(meta, every, errors),
                        Err(_) => errors.at(&lit, "`snapshot_every` must be a whole number from 1"),
                    }
                }
                "snapshot_version" => {
                    let lit: LitInt = meta.value()?.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`snapshot_version` takes the version of the state's shape, e.g. `snapshot_version = 2`",
                        )
                    })?;
                    match lit.base10_parse::<u32>() {
                        Ok(0) => errors.at(
                            &lit,
                            "snapshot versions start at 1: use `snapshot_version = 1` for the state's first shape",
                        ),
                        Ok(version) => snapshot_version.set(meta, version, errors),
                        Err(_) => errors.at(
                            &lit,
                            "`snapshot_version` must be a whole number from 1 to 4294967295",
                        ),
                    }
                }
                _ => {
                    let ty: Type = meta.value()?.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`services` takes a type, e.g. `services = BankServices`",
                        )
                    })?;
                    services.set(meta, ty, errors);
                }
            }
            Ok(())
        })
    });
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    Args {
        name: name.0.map(|kv| kv.value),
        event: event.0.map(|kv| kv.value),
        services: services.0.map(|kv| kv.value),
        snapshot_every: snapshot_every.0.map(|kv| (kv.value, kv.span)),
        snapshot_version: snapshot_version.0.map(|kv| (kv.value, kv.span)),
    }
}

/// Removes `#[handle]` / `#[apply]` from a method and says which it was.
fn take_role(method: &mut ImplItemFn, errors: &mut Errors) -> Option<Role> {
    let mut role = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attr in method.attrs.drain(..) {
        let name = attr
            .path()
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let this = match name.as_str() {
            "handle" => Role::Handle,
            "apply" => Role::Apply,
            other => match closest(other, &["handle", "apply"]) {
                // A misspelt role would otherwise leave a plain method and an unhandled command.
                Some(meant) => {
                    errors.at(
                        &attr,
                        format!("unknown attribute `#[{other}]` in an `#[aggregate]` impl; did you mean `#[{meant}]`?"),
                    );
                    if meant == "handle" {
                        Role::Handle
                    } else {
                        Role::Apply
                    }
                }
                None => {
                    kept.push(attr);
                    continue;
                }
            },
        };
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            errors.at(&attr, "`#[handle]` and `#[apply]` take no arguments");
        }
        if role.is_some() {
            // The first attribute wins, so the method is checked once, as what it was first
            // declared to be.
            errors.at(
                &attr,
                "a method is either a command handler (`#[handle]`) or an event applier (`#[apply]`), not both: \
                 remove this attribute",
            );
            continue;
        }
        role = Some(this);
    }
    method.attrs = kept;
    role
}

fn check_sync_and_concrete(method: &ImplItemFn, what: &str, why: &str, errors: &mut Errors) {
    if let Some(asyncness) = &method.sig.asyncness {
        errors.at(
            asyncness,
            format!("{what} must be synchronous: remove `async` ({why})"),
        );
    }
    reject_generics(&method.sig.generics, what, errors);
}

/// The receiver as written: `Some(true)` for `&mut self`, `Some(false)` for `&self`, and an error
/// for `self` by value or no receiver at all.
fn receiver(method: &ImplItemFn, what: &str, expected: &str, errors: &mut Errors) -> Option<bool> {
    match method.sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() => Some(r.mutability.is_some()),
        Some(FnArg::Receiver(r)) => {
            errors.at(
                r,
                format!("{what} cannot take `self` by value, which would consume the aggregate; take `{expected}`"),
            );
            None
        }
        _ => {
            errors.at_span(
                method.sig.ident.span(),
                format!("{what} is a method: its first parameter must be `{expected}`"),
            );
            None
        }
    }
}

fn parse_handler(method: &ImplItemFn, errors: &mut Errors) -> Option<Handler> {
    const WHAT: &str = "a command handler";
    check_sync_and_concrete(
        method,
        WHAT,
        "load what a decision needs into the aggregate's state or its services",
        errors,
    );
    if receiver(method, WHAT, "&self", errors) == Some(true) {
        errors.at(
            &method.sig.inputs[0],
            "a command handler decides and must not change state: take `&self` and return events; \
             state changes in `#[apply]` methods",
        );
    }
    let args: Vec<&syn::PatType> = typed_args(method);
    let (command, command_by_ref) = match args.first() {
        Some(arg) => match &*arg.ty {
            Type::Reference(r) if r.mutability.is_some() => {
                errors.at(
                    &arg.ty,
                    "take the command by value or by shared reference (`&Command`), not `&mut`",
                );
                ((*r.elem).clone(), true)
            }
            Type::Reference(r) => ((*r.elem).clone(), true),
            other => (other.clone(), false),
        },
        None => {
            errors.at_span(
                method.sig.paren_token.span.join(),
                "a `#[handle]` method takes the command after `&self`, e.g. `fn deposit(&self, command: Deposit)`",
            );
            return None;
        }
    };
    let services = args.get(1).and_then(|arg| match &*arg.ty {
        Type::Reference(r) if r.mutability.is_none() => Some((*r.elem).clone()),
        _ => {
            errors.at(&arg.ty, "the second parameter of a command handler is the aggregate's services, by shared reference (`&MyServices`)");
            None
        }
    });
    for extra in args.iter().skip(2) {
        errors.at(
            extra,
            "a command handler takes `&self`, the command, and optionally `&Services`; remove this parameter",
        );
    }
    // A signature we cannot read is reported; the handler is kept with an output that records
    // nothing and never fails, only so that its command stays handled until the fix.
    let (emitted, error) = parse_handler_output(method, errors)
        .unwrap_or_else(|| (Emitted::Nothing, syn::parse_quote!(::core::convert::Infallible)));
    Some(Handler {
        method: method.sig.ident.clone(),
        name_span: method.sig.ident.span(),
        command,
        command_by_ref,
        services,
        emitted,
        error,
    })
}

fn typed_args(method: &ImplItemFn) -> Vec<&syn::PatType> {
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

const RETURN_HELP: &str =
    "a command handler returns `Result<Events, YourError>`, where Events is one event, \
     a tuple of events, an `Option` of an event or a `Vec` of events; commands never return data (CQS)";

fn parse_handler_output(method: &ImplItemFn, errors: &mut Errors) -> Option<(Emitted, Type)> {
    let ty = match &method.sig.output {
        ReturnType::Type(_, ty) => ty,
        ReturnType::Default => {
            errors.at_span(method.sig.paren_token.span.close(), RETURN_HELP);
            return None;
        }
    };
    let Some([ok, error]) = generic_args(ty, "Result")
        .map(<[Type; 2]>::try_from)
        .and_then(Result::ok)
    else {
        let written = type_key(ty);
        let hint = if written.starts_with("Result") {
            format!("{RETURN_HELP}; `{written}` needs both the events and the error type")
        } else {
            format!("{RETURN_HELP}; if `{written}` is an event, write `Result<{written}, YourError>`")
        };
        errors.at(ty, hint);
        return None;
    };
    let emitted = match &ok {
        Type::Tuple(tuple) if tuple.elems.is_empty() => Emitted::Nothing,
        Type::Tuple(tuple) => Emitted::Tuple(tuple.elems.iter().cloned().collect()),
        other => match (generic_args(other, "Option"), generic_args(other, "Vec")) {
            (Some(mut args), _) if args.len() == 1 => Emitted::Optional(args.remove(0)),
            (_, Some(mut args)) if args.len() == 1 => Emitted::Many(args.remove(0)),
            _ => Emitted::One(ok.clone()),
        },
    };
    Some((emitted, error))
}

/// The type arguments of `ty` when its last path segment is `name`, as in `Result<A, B>`.
fn generic_args(ty: &Type, name: &str) -> Option<Vec<Type>> {
    let Type::Path(path) = ty else { return None };
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
                GenericArgument::Type(ty) => Some(ty.clone()),
                _ => None,
            })
            .collect(),
    )
}

fn parse_applier(method: &ImplItemFn, errors: &mut Errors) -> Option<Applier> {
    const WHAT: &str = "an event applier";
    check_sync_and_concrete(
        method,
        WHAT,
        "an applier only copies facts from the event into the state; it never waits for anything",
        errors,
    );
    if receiver(method, WHAT, "&mut self", errors) == Some(false) {
        errors.at(
            &method.sig.inputs[0],
            "an `#[apply]` method evolves the state: take `&mut self`",
        );
    }
    if let ReturnType::Type(_, ty) = &method.sig.output {
        if !matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()) {
            errors.at(
                ty,
                "an `#[apply]` method only evolves the state and returns nothing; decisions and errors belong in `#[handle]` methods",
            );
        }
    }
    let args = typed_args(method);
    for extra in args.iter().skip(1) {
        errors.at(
            extra,
            "an `#[apply]` method takes `&mut self` and one event by reference; remove this parameter",
        );
    }
    match args.first().map(|arg| &*arg.ty) {
        Some(Type::Reference(r)) if r.mutability.is_none() => Some(Applier {
            method: method.sig.ident.clone(),
            event: (*r.elem).clone(),
        }),
        Some(other) => {
            let event = match other {
                Type::Reference(r) => (*r.elem).clone(),
                other => other.clone(),
            };
            errors.at(
                other,
                format!(
                    "an `#[apply]` method takes the event by shared reference: write `&{}`",
                    type_key(&event)
                ),
            );
            // Kept, so the event stays in the aggregate's event enum until the fix.
            Some(Applier {
                method: method.sig.ident.clone(),
                event,
            })
        }
        None => {
            errors.at_span(
                method.sig.paren_token.span.join(),
                "an `#[apply]` method takes the event after `&mut self`, e.g. `fn opened(&mut self, event: &AccountOpened)`",
            );
            None
        }
    }
}

/// The impl block as written, minus `#[handle]` and `#[apply]`, for output next to an error.
pub fn strip_method_attributes(item: TokenStream) -> TokenStream {
    crate::common::strip_method_attributes(item, &["handle", "apply"])
}
