//! `#[handle]` and `#[apply]` methods: their signatures, read into handlers and appliers.

use quote::quote;
use syn::{ImplItemFn, PatType, ReturnType, Type};

use super::{Applier, Emitted, Handler};
use crate::common::{
    generic_args, is_unit, receiver, reject_generics, single_arg, taken, type_key, typed_args, ungroup,
    Errors, Receiver, Taken,
};

fn check_sync_and_concrete(method: &ImplItemFn, what: &str, why: &str, errors: &mut Errors) {
    if let Some(asyncness) = &method.sig.asyncness {
        errors.at(
            asyncness,
            format!("{what} must be synchronous: remove `async` ({why})"),
        );
    }
    reject_generics(&method.sig.generics, what, errors);
}

/// Reports a receiver other than `expected` taken by value or missing; returns whether it is
/// `&mut self`, when it is a reference.
fn check_receiver(method: &ImplItemFn, what: &str, expected: &str, errors: &mut Errors) -> Option<bool> {
    match receiver(method) {
        Receiver::Shared => Some(false),
        Receiver::Exclusive(_) => Some(true),
        Receiver::Owned(r) => {
            errors.at(
                r,
                format!("{what} cannot take `self` by value, which would consume the aggregate; take `{expected}`"),
            );
            None
        }
        Receiver::Missing => {
            errors.at_span(
                method.sig.ident.span(),
                format!("{what} is a method: its first parameter must be `{expected}`"),
            );
            None
        }
    }
}

pub fn parse_handler(method: &ImplItemFn, services: Option<&Type>, errors: &mut Errors) -> Option<Handler> {
    const WHAT: &str = "a command handler";
    check_sync_and_concrete(
        method,
        WHAT,
        "load what a decision needs into the aggregate's state or its services",
        errors,
    );
    if check_receiver(method, WHAT, "&self", errors) == Some(true) {
        errors.at(
            &method.sig.inputs[0],
            "a command handler decides and must not change state: take `&self` and return events; \
             state changes in `#[apply]` methods",
        );
    }
    let args = reorder_swapped(typed_args(method), services, errors);
    let (command, command_by_ref) = match args.first().map(|arg| (arg, taken(&arg.ty))) {
        Some((arg, Taken::Exclusive(command))) => {
            errors.at(
                &arg.ty,
                "take the command by value or by shared reference (`&Command`), not `&mut`",
            );
            (command.clone(), true)
        }
        Some((_, Taken::Shared(command))) => (command.clone(), true),
        Some((_, Taken::Owned(command))) => (command.clone(), false),
        None => {
            errors.at_span(
                method.sig.paren_token.span.join(),
                "a `#[handle]` method takes the command after `&self`, e.g. `fn deposit(&self, command: Deposit)`",
            );
            return None;
        }
    };
    let services = args.get(1).and_then(|arg| match taken(&arg.ty) {
        Taken::Shared(services) => Some(services.clone()),
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

/// Parameters written services first, as in `(&self, clock: &Clock, command: Deposit)` in an
/// aggregate declaring `services = Clock`: reported once, at the parameters, and returned in the
/// expected order, so that the handler still handles its command (instead of one named `Clock`,
/// which would be reported again at the command as not handled).
fn reorder_swapped<'a>(
    args: Vec<&'a PatType>,
    services: Option<&Type>,
    errors: &mut Errors,
) -> Vec<&'a PatType> {
    let (Some(services), [first, second]) = (services, args.as_slice()) else {
        return args;
    };
    let services = type_key(services);
    let is_services = |arg: &PatType| matches!(taken(&arg.ty), Taken::Shared(ty) if type_key(ty) == services);
    if !is_services(first) || is_services(second) {
        return args;
    }
    let pattern = |arg: &PatType| {
        let pat = &arg.pat;
        quote!(#pat).to_string()
    };
    errors.at(
        quote!(#first, #second),
        format!(
            "a command handler takes the command first and the services second: write `(&self, {}: {}, {}: {})`",
            pattern(second),
            type_key(&second.ty),
            pattern(first),
            type_key(&first.ty),
        ),
    );
    vec![*second, *first]
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
    let Some([ok, error]) = generic_args(ty, "Result").and_then(|args| <[&Type; 2]>::try_from(args).ok())
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
    let emitted = match ok {
        Type::Tuple(tuple) if tuple.elems.is_empty() => Emitted::Nothing,
        Type::Tuple(tuple) => Emitted::Tuple(tuple.elems.iter().map(|ty| ungroup(ty).clone()).collect()),
        other => match (single_arg(other, "Option"), single_arg(other, "Vec")) {
            (Some(event), _) => Emitted::Optional(event.clone()),
            (_, Some(event)) => Emitted::Many(event.clone()),
            _ => Emitted::One(other.clone()),
        },
    };
    Some((emitted, error.clone()))
}

pub fn parse_applier(method: &ImplItemFn, errors: &mut Errors) -> Option<Applier> {
    const WHAT: &str = "an event applier";
    check_sync_and_concrete(
        method,
        WHAT,
        "an applier only copies facts from the event into the state; it never waits for anything",
        errors,
    );
    if check_receiver(method, WHAT, "&mut self", errors) == Some(false) {
        errors.at(
            &method.sig.inputs[0],
            "an `#[apply]` method evolves the state: take `&mut self`",
        );
    }
    if let ReturnType::Type(_, ty) = &method.sig.output {
        if !is_unit(ty) {
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
    let Some(arg) = args.first() else {
        errors.at_span(
            method.sig.paren_token.span.join(),
            "an `#[apply]` method takes the event after `&mut self`, e.g. `fn opened(&mut self, event: &AccountOpened)`",
        );
        return None;
    };
    let event = match taken(&arg.ty) {
        Taken::Shared(event) => event,
        other => {
            let event = other.referent();
            errors.at(
                ungroup(&arg.ty),
                format!(
                    "an `#[apply]` method takes the event by shared reference: write `&{}`",
                    type_key(event)
                ),
            );
            // Kept, so the event stays in the aggregate's event enum until the fix.
            event
        }
    };
    Some(Applier {
        method: method.sig.ident.clone(),
        event: event.clone(),
    })
}
