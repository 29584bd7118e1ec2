//! `#[aggregate(name = "...", event = ..., services = ..., snapshot_every = N, snapshot_version = V)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::{Ident, LitInt, LitStr, Type};

use crate::common::{parse_keys, Errors, Slot};

const KEYS: &[&str] = &["name", "event", "services", "snapshot_every", "snapshot_version"];

/// The keys of `#[aggregate(...)]` that were given.
pub struct Args {
    pub name: Option<LitStr>,
    pub event: Option<Ident>,
    pub services: Option<Type>,
    /// `snapshot_every = N`, with the span of its key.
    pub snapshot_every: Option<(u64, Span)>,
    /// `snapshot_version = V`, with the span of its key.
    pub snapshot_version: Option<(u32, Span)>,
}

pub fn parse_args(args: TokenStream, errors: &mut Errors) -> Args {
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
                    check_name(&lit, errors);
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

/// Stream ids are `"{name}-{id}"`, so a name is what comes before the first `-`: a name with a
/// `-` in it would make two aggregates' streams one (`Order` with id `Line-5` and `Order-Line`
/// with id `5`), as in KurrentDB's category convention. The default, the type's name, never has
/// one.
fn check_name(lit: &LitStr, errors: &mut Errors) {
    let name = lit.value();
    if name.trim().is_empty() {
        errors.at(
            lit,
            "an aggregate's `name` cannot be empty: its streams are named `\"{name}-{id}\"`, e.g. \
             `name = \"bank.Account\"`",
        );
        return;
    }
    let Some((before, after)) = name.split_once('-') else {
        return;
    };
    let (before, after) = (
        if before.is_empty() { "Order" } else { before },
        if after.is_empty() { "Line" } else { after },
    );
    errors.at(
        lit,
        format!(
            "an aggregate's `name` cannot contain `-`: stream ids are `\"{{name}}-{{id}}\"`, so `{before}-{after}` \
             with id `5` and `{before}` with id `{after}-5` would share the stream `{before}-{after}-5`; write \
             e.g. `name = \"{dots}\"` or `name = \"{underscores}\"`",
            dots = name.replace('-', "."),
            underscores = name.replace('-', "_"),
        ),
    );
}
