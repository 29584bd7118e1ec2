use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Member, Type};

use crate::common::{parse_keys, reject_generics, Errors, Slot};

const KEYS: &[&str] = &["aggregate"];

pub struct CommandModel {
    pub ident: Ident,
    pub aggregate: syn::Path,
    pub id_member: Member,
    pub id_type: Type,
}

impl CommandModel {
    pub fn from_input(input: &DeriveInput) -> syn::Result<Self> {
        let mut errors = Errors::default();
        reject_generics(&input.generics, "a command", &mut errors);
        let aggregate = parse_aggregate_key(input, &mut errors);
        let id = match &input.data {
            Data::Struct(data) => find_id_field(&data.fields, input.ident.span(), &mut errors),
            Data::Enum(e) => {
                errors.at_span(
                    e.enum_token.span(),
                    "`#[derive(Command)]` goes on a struct: each command is its own struct with an `#[id]` field",
                );
                None
            }
            Data::Union(u) => {
                errors.at_span(
                    u.union_token.span(),
                    "`#[derive(Command)]` goes on a struct, not a union",
                );
                None
            }
        };
        errors.finish()?;
        match (aggregate, id) {
            (Some(aggregate), Some((id_member, id_type))) => Ok(Self {
                ident: input.ident.clone(),
                aggregate,
                id_member,
                id_type,
            }),
            _ => Err(syn::Error::new(input.ident.span(), "invalid command")),
        }
    }
}

fn parse_aggregate_key(input: &DeriveInput, errors: &mut Errors) -> Option<syn::Path> {
    let mut aggregate = Slot::<syn::Path>::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("command")) {
        let parsed = attr.parse_nested_meta(|meta| {
            parse_keys(meta, "command", KEYS, errors, &mut |_, meta, errors| {
                let path: syn::Path = meta.value()?.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`aggregate` takes the aggregate's type, e.g. `aggregate = Account`",
                    )
                })?;
                aggregate.set(meta, path, errors);
                Ok(())
            })
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    if aggregate.0.is_none() {
        errors.at_span(
            input.ident.span(),
            "a command must name the aggregate that handles it: add `#[command(aggregate = YourAggregate)]`",
        );
    }
    aggregate.0.map(|kv| kv.value)
}

fn find_id_field(fields: &Fields, struct_span: Span, errors: &mut Errors) -> Option<(Member, Type)> {
    let mut found: Option<(Member, Type)> = None;
    for (index, field) in fields.iter().enumerate() {
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("id")) {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                errors.at(attr, "`#[id]` takes no arguments");
            }
            if found.is_some() {
                errors.at(
                    attr,
                    "a command targets one aggregate instance, so it has exactly one `#[id]` field; remove this one",
                );
                continue;
            }
            let member = field
                .ident
                .clone()
                .map_or_else(|| Member::Unnamed(syn::Index::from(index)), Member::Named);
            found = Some((member, field.ty.clone()));
        }
    }
    if found.is_none() {
        errors.at_span(
            struct_span,
            "a command needs one `#[id]` field naming the aggregate instance it targets, e.g. `#[id] account_id: String`",
        );
    }
    found
}
