//! The model of one `#[process_manager]`: its arguments and the handlers of its impl block, read
//! with every problem collected.

use proc_macro2::{Span, TokenStream};
use syn::{Ident, ImplItem, ItemImpl, LitStr, Member, ReturnType, Type};

use crate::common::{
    parse_keys, receiver, reject_generics, taken, type_key, typed_args, Errors, Receiver, Slot, Taken,
};

/// The method attributes this macro reads (and removes).
pub const METHOD_ATTRIBUTES: &[&str] = &["on", "rejected", "deadline"];

pub struct ProcessModel {
    /// The user's impl block with our method attributes removed.
    pub item: ItemImpl,
    pub self_ident: Ident,
    pub name: LitStr,
    pub commands: Vec<Type>,
    pub events: Vec<EventHandler>,
    pub rejections: Vec<RejectionHandler>,
    pub deadline: Option<DeadlineHandler>,
}

/// `#[on(correlate = field)] fn (&mut self, event: &E, process: &mut Process<Self>)`.
pub struct EventHandler {
    pub method: Ident,
    pub event: Type,
    pub correlate: Member,
}

/// `#[rejected] fn (&mut self, command: &C, error: &RejectionOf<C>, process: &mut Process<Self>)`.
pub struct RejectionHandler {
    pub method: Ident,
    pub command: Type,
}

/// `#[deadline] fn (&mut self, deadline: &D, process: &mut Process<Self>)`.
pub struct DeadlineHandler {
    pub method: Ident,
    pub deadline: Type,
}

impl ProcessModel {
    pub fn parse(args: TokenStream, item: TokenStream, errors: &mut Errors) -> Option<Self> {
        let mut item: ItemImpl = match syn::parse2(item) {
            Ok(item) => item,
            Err(_) => {
                errors.at_span(
                    Span::call_site(),
                    "`#[process_manager]` goes on an `impl` block of the process manager's state type",
                );
                return None;
            }
        };
        if let Some((_, path, _)) = &item.trait_ {
            errors.at(
                path,
                "`#[process_manager]` goes on the type's own `impl` block, not a trait impl",
            );
            return None;
        }
        if !reject_generics(&item.generics, "a process manager", errors) {
            return None;
        }
        let Type::Path(self_path) = &*item.self_ty else {
            errors.at(
                &item.self_ty,
                "`#[process_manager]` goes on the `impl` block of a named type",
            );
            return None;
        };
        let self_ident = self_path.path.segments.last()?.ident.clone();
        let (name, commands) = parse_args(args, &item, errors);
        let mut model = Self {
            self_ident,
            name: name.unwrap_or_else(|| LitStr::new("process", Span::call_site())),
            commands,
            events: Vec::new(),
            rejections: Vec::new(),
            deadline: None,
            item: item.clone(),
        };
        for impl_item in &mut item.items {
            let ImplItem::Fn(method) = impl_item else { continue };
            let mut role = None;
            for attribute in &method.attrs {
                for known in METHOD_ATTRIBUTES {
                    if attribute.path().is_ident(known) {
                        if role.is_some() {
                            errors.at(
                                attribute,
                                "a method has one role: `#[on]`, `#[rejected]` or `#[deadline]`",
                            );
                        } else {
                            role = Some((*known, attribute.clone()));
                        }
                    }
                }
            }
            method
                .attrs
                .retain(|a| !METHOD_ATTRIBUTES.iter().any(|name| a.path().is_ident(name)));
            let Some((role, attribute)) = role else { continue };
            model.read_handler(role, &attribute, method, errors);
        }
        model.item = item;
        Some(model)
    }

    fn read_handler(
        &mut self,
        role: &str,
        attribute: &syn::Attribute,
        method: &syn::ImplItemFn,
        errors: &mut Errors,
    ) {
        let signature = &method.sig;
        if let Some(asyncness) = &signature.asyncness {
            errors.at(
                asyncness,
                "a process manager's handler is not `async`: it decides, and the runner sends what it decided",
            );
        }
        match receiver(method) {
            Receiver::Exclusive(_) => {}
            _ => errors.at(
                &signature.ident,
                "a process manager's handler takes `&mut self`: it changes the instance's state",
            ),
        }
        if let ReturnType::Type(_, returned) = &signature.output {
            errors.at(
                returned,
                "a process manager's handler returns nothing: it decides through `process` (`send`, `schedule`, `cancel`, `finish`)",
            );
        }
        let args = typed_args(method);
        let expected = match role {
            "rejected" => 3,
            _ => 2,
        };
        if args.len() != expected {
            let shape = match role {
                "on" => "`(&mut self, event: &E, process: &mut Process<Self>)`",
                "rejected" => {
                    "`(&mut self, command: &C, error: &RejectionOf<C>, process: &mut Process<Self>)`"
                }
                _ => "`(&mut self, deadline: &D, process: &mut Process<Self>)`",
            };
            errors.at(&signature.ident, format!("a `#[{role}]` handler takes {shape}"));
            return;
        }
        let first = match taken(&args[0].ty) {
            Taken::Shared(referent) => referent.clone(),
            _ => {
                errors.at(
                    &args[0].ty,
                    format!("a `#[{role}]` handler takes its first argument by shared reference (`&T`)"),
                );
                return;
            }
        };
        let method_name = signature.ident.clone();
        match role {
            "on" => {
                let correlate = parse_correlate(attribute, errors);
                if self.events.iter().any(|h| type_key(&h.event) == type_key(&first)) {
                    errors.at(
                        &first,
                        "this event already has an `#[on]` handler; one handler per event type",
                    );
                }
                if let Some(correlate) = correlate {
                    self.events.push(EventHandler {
                        method: method_name,
                        event: first,
                        correlate,
                    });
                }
            }
            "rejected" => {
                if !self.commands.iter().any(|c| type_key(c) == type_key(&first)) {
                    errors.at(
                        &first,
                        "this command is not among the process manager's `commands(...)`: add it there, or remove this handler",
                    );
                } else if self
                    .rejections
                    .iter()
                    .any(|h| type_key(&h.command) == type_key(&first))
                {
                    errors.at(
                        &first,
                        "this command already has a `#[rejected]` handler; one per command",
                    );
                } else {
                    self.rejections.push(RejectionHandler {
                        method: method_name,
                        command: first,
                    });
                }
            }
            _ => {
                if self.deadline.is_some() {
                    errors.at(
                        attribute,
                        "a process manager has one `#[deadline]` handler: make its deadline type an enum",
                    );
                } else {
                    self.deadline = Some(DeadlineHandler {
                        method: method_name,
                        deadline: first,
                    });
                }
            }
        }
    }
}

/// `name = "..."` and `commands(A, B, ...)`.
fn parse_args(args: TokenStream, item: &ItemImpl, errors: &mut Errors) -> (Option<LitStr>, Vec<Type>) {
    let mut name = Slot::<LitStr>::default();
    let mut commands: Option<Vec<Type>> = None;
    let parser = syn::meta::parser(|meta| {
        parse_keys(
            meta,
            "process_manager",
            &["name", "commands"],
            errors,
            &mut |key, meta, errors| {
                match key {
                    "name" => {
                        let value: LitStr = meta.value()?.parse()?;
                        check_name(&value, errors);
                        name.set(meta, value, errors);
                    }
                    _ => {
                        let mut listed = Vec::new();
                        meta.parse_nested_meta(|command| {
                            let path = command.path.clone();
                            listed.push(Type::Path(syn::TypePath { qself: None, path }));
                            Ok(())
                        })?;
                        if commands.is_some() {
                            errors.at(&meta.path, "`commands` is specified more than once; keep one");
                        }
                        commands = Some(listed);
                    }
                }
                Ok(())
            },
        )
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        errors.push(error);
    }
    let name = name.0.map(|kv| kv.value);
    if name.is_none() {
        errors.at(
            &item.self_ty,
            "a process manager needs a name, which its instances' streams and its checkpoint are kept under: `#[process_manager(name = \"transfer\", ...)]`",
        );
    }
    let commands = commands.unwrap_or_default();
    if commands.is_empty() {
        errors.at(
            &item.self_ty,
            "a process manager sends commands: list their types in `#[process_manager(commands(...))]`",
        );
    }
    (name, commands)
}

/// A name that can begin a stream id: letters, digits, `_` and `.`, no `-`.
fn check_name(name: &LitStr, errors: &mut Errors) {
    let value = name.value();
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !valid {
        errors.at(
            name,
            format!(
                "the process manager's name `{value}` cannot begin its streams' ids (`{value}-<key>`): use 1 to 64 ASCII letters, digits, `_` and `.` (no `-`), e.g. `{}`",
                value.replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "_")
            ),
        );
    }
}

/// `correlate = field` of `#[on(...)]`.
fn parse_correlate(attribute: &syn::Attribute, errors: &mut Errors) -> Option<Member> {
    let missing = "an `#[on]` handler needs the event's field that names the instance: `#[on(correlate = transfer_id)]`";
    let syn::Meta::List(_) = &attribute.meta else {
        errors.at(attribute, missing);
        return None;
    };
    let mut correlate = Slot::<Member>::default();
    let result = attribute.parse_nested_meta(|meta| {
        parse_keys(meta, "on", &["correlate"], errors, &mut |_, meta, errors| {
            let value: Member = meta.value()?.parse()?;
            correlate.set(meta, value, errors);
            Ok(())
        })
    });
    if let Err(error) = result {
        errors.push(error);
        return None;
    }
    match correlate.0 {
        Some(kv) => Some(kv.value),
        None => {
            errors.at(attribute, missing);
            None
        }
    }
}
