//! `#[projection(name = "...", version = N)]`.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::{LitInt, LitStr, Type};

use crate::common::{parse_keys, type_key, Errors, Slot};

const KEYS: &[&str] = &["name", "version"];

pub fn parse_args(args: TokenStream, errors: &mut Errors) -> (Option<LitStr>, Option<u32>) {
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
                            type_key(&Type::Path(syn::TypePath { qself: None, path }))
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
