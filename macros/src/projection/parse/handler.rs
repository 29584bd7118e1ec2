//! `#[on]` methods: event handlers, of one event or of a run of events (batch handlers).

use syn::{ImplItemFn, PatType, Type};

use super::signature::{reorder_swapped, unit_result, writing_connection};
use super::{check_common, Handler, Role};
use crate::common::{
    last_ident, single_arg, slice_element, taken, type_key, typed_args, ungroup, Errors, Taken,
};

pub const HANDLER_EXAMPLE: &str =
    "`async fn opened(&self, event: &Opened, meta: &RecordedEvent, db: &mut PgConnection) \
                               -> Result<(), sqlx::Error>` (`meta` is optional)";

pub fn parse_handler(method: &ImplItemFn, errors: &mut Errors) -> Option<Handler> {
    check_common(method, Role::On, errors);
    let args = reorder_swapped(typed_args(method), Role::On, errors);
    let Some(event_arg) = args.first() else {
        errors.at_span(
            method.sig.paren_token.span.join(),
            format!("an `#[on]` handler takes the event and the read-model connection after `&self`: {HANDLER_EXAMPLE}"),
        );
        return None;
    };
    let (event, batch) = match taken(&event_arg.ty) {
        Taken::Shared(referent) => handled_events(referent, errors),
        not_shared => {
            let (event, batch) = match not_shared {
                Taken::Owned(ty) => match single_arg(ty, "Vec") {
                    Some(element) => (element.clone(), true),
                    None => (ty.clone(), false),
                },
                other => handled_events(other.referent(), errors),
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
            errors.at(ungroup(&event_arg.ty), message);
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

/// The event type a handler's event parameter names, and whether it takes a slice of them (a
/// batch handler). `Vec<E>` is reported, and read as the slice it should be.
fn handled_events(referent: &Type, errors: &mut Errors) -> (Type, bool) {
    if let Some(element) = slice_element(referent) {
        return (element.clone(), true);
    }
    match single_arg(referent, "Vec") {
        Some(element) => {
            errors.at(
                referent,
                format!(
                    "a batch handler takes its events as a slice: write `&[{}]`",
                    type_key(element)
                ),
            );
            (element.clone(), true)
        }
        None => (referent.clone(), false),
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
    let Taken::Shared(referent) = taken(&arg.ty) else {
        return None;
    };
    let (ty, kind) = match slice_element(referent) {
        Some(element) => (element, Envelope::Many),
        None => (referent, Envelope::One),
    };
    last_ident(ty)
        .is_some_and(|i| i == "RecordedEvent")
        .then_some(kind)
}

/// Whether a parameter is written as an envelope of either kind.
pub fn is_envelope(arg: &PatType) -> bool {
    envelope_kind(arg).is_some()
}
