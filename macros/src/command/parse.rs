use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Member, Type};

use crate::common::{parse_keys, reject_generics, type_value, Errors, Slot};

const KEYS: &[&str] = &["aggregate", "creates"];

pub struct CommandModel {
    pub ident: Ident,
    pub aggregate: syn::Path,
    /// `None` only after an error was reported: the impl is then generated without an id.
    pub id: Option<IdField>,
    /// `#[command(creates)]`: decided on the aggregate's empty state without reading its stream.
    pub creates: bool,
}

pub struct IdField {
    pub member: Member,
    pub ty: Type,
}

impl CommandModel {
    /// Reads the struct and its attributes, recording every problem in `errors`. Returns a model
    /// whenever the aggregate is known, so that the impl (and with it the link to the aggregate)
    /// exists even while the `#[id]` field is being fixed.
    pub fn from_input(input: &DeriveInput, errors: &mut Errors) -> Option<Self> {
        let concrete = reject_generics(&input.generics, "a command", errors);
        let (aggregate, creates) = parse_command_keys(input, errors);
        let id = match &input.data {
            Data::Struct(data) => find_id_field(&data.fields, input.ident.span(), errors),
            Data::Enum(e) => {
                errors.at_span(
                    e.enum_token.span(),
                    "`#[derive(Command)]` goes on a struct: make each command its own struct with an `#[id]` field",
                );
                None
            }
            Data::Union(u) => {
                errors.at_span(
                    u.union_token.span(),
                    "`#[derive(Command)]` goes on a struct, not a union: make each command its own struct",
                );
                None
            }
        };
        Some(Self {
            ident: input.ident.clone(),
            aggregate: aggregate.filter(|_| concrete)?,
            id,
            creates,
        })
    }
}

/// The `aggregate` key, and whether the `creates` flag is set.
fn parse_command_keys(input: &DeriveInput, errors: &mut Errors) -> (Option<syn::Path>, bool) {
    let mut aggregate = Slot::<syn::Path>::default();
    let mut creates = false;
    let mut attribute = None;
    let reported_before = errors.count();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("command")) {
        attribute.get_or_insert(attr);
        let parsed = attr.parse_nested_meta(|meta| {
            parse_keys(meta, "command", KEYS, errors, &mut |key, meta, errors| {
                if key == "creates" {
                    if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                        errors.at_span(
                            meta.path.span(),
                            "`creates` is a flag and takes no value: write `#[command(aggregate = ..., creates)]`",
                        );
                        skip_flag_value(meta);
                    }
                    creates = true;
                    return Ok(());
                }
                let expected = "the aggregate's type, e.g. `aggregate = Account`";
                let path: syn::Path = type_value(meta, "aggregate", expected, errors)?;
                aggregate.set(meta, path, errors);
                Ok(())
            })
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    // A misspelt key was just reported with a suggestion; saying that the key is missing would
    // only repeat it.
    if aggregate.0.is_none() && errors.count() == reported_before {
        let message = format!(
            "a command must name the aggregate that handles it: add `#[command(aggregate = YourAggregate)]` \
             above `struct {}`",
            input.ident
        );
        match attribute {
            Some(attr) => errors.at(attr, message),
            None => errors.at_span(input.ident.span(), message),
        }
    }
    (aggregate.0.map(|kv| kv.value), creates)
}

/// Consumes what follows a flag written with a value (`creates = true`), already reported.
fn skip_flag_value(meta: &syn::meta::ParseNestedMeta) {
    let _ = meta.value().and_then(|value| value.parse::<syn::Expr>());
}

fn find_id_field(fields: &Fields, struct_span: Span, errors: &mut Errors) -> Option<IdField> {
    let mut found: Option<IdField> = None;
    for (index, field) in fields.iter().enumerate() {
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("id")) {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                errors.at(attr, "`#[id]` takes no arguments: write `#[id]` above the field");
            }
            if let Some(first) = &found {
                errors.at(
                    attr,
                    format!(
                        "a command targets one aggregate instance, so it has exactly one `#[id]` field, \
                         and `{}` is already marked; remove this `#[id]`",
                        member_name(&first.member)
                    ),
                );
                continue;
            }
            let member = field
                .ident
                .clone()
                .map_or_else(|| Member::Unnamed(syn::Index::from(index)), Member::Named);
            found = Some(IdField {
                member,
                ty: field.ty.clone(),
            });
        }
    }
    if found.is_none() {
        errors.at_span(
            struct_span,
            "a command needs one `#[id]` field naming the aggregate instance it targets: \
             mark it with `#[id]`, e.g. `#[id] account_id: String`",
        );
    }
    found
}

fn member_name(member: &Member) -> String {
    match member {
        Member::Named(ident) => ident.to_string(),
        Member::Unnamed(index) => index.index.to_string(),
    }
}
