//! Procedural macros of Chronicle. Use them through the `chronicle` crate, which re-exports them
//! and provides the runtime the generated code refers to.
//!
//! Each macro parses its input into a small model (`parse.rs`), checks rules across the model
//! (`validate.rs`) and only then generates code (`expand.rs`); all problems of one item are
//! reported together.

mod aggregate;
mod command;
mod common;
mod event;
mod process;
mod projection;
mod query;
#[cfg(test)]
mod snapshots_tests;

use proc_macro::TokenStream;

/// Derives `chronicle::Event`. Optional: `#[event(name = "bank.MoneyDeposited", version = 1)]`.
#[proc_macro_derive(Event, attributes(event, pii))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    event::derive(input).into()
}

/// Derives `chronicle::Command`: `#[command(aggregate = Account)]` and one `#[id]` field.
#[proc_macro_derive(Command, attributes(command, id))]
pub fn derive_command(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    command::derive(input).into()
}

/// Turns an aggregate's `impl` block into an aggregate: `#[handle]` methods decide on commands,
/// `#[apply]` methods evolve the state. Optional: `#[aggregate(name = "bank.Account",
/// event = AccountEvent, services = BankServices)]`.
#[proc_macro_attribute]
pub fn aggregate(args: TokenStream, item: TokenStream) -> TokenStream {
    aggregate::attribute(args.into(), item.into()).into()
}

/// Turns a read model's `impl` block into a projection: `#[on]` methods apply events to the read
/// model, an optional `#[reset]` method empties it before a rebuild, and `#[query]` methods answer
/// queries. Optional: `#[projection(name = "bank.account_balances", version = 1)]`.
#[proc_macro_attribute]
pub fn projection(args: TokenStream, item: TokenStream) -> TokenStream {
    projection::attribute(args.into(), item.into()).into()
}

/// Turns a process manager's `impl` block into a process manager (a saga): `#[on(correlate =
/// field)]` methods react to events of any aggregate, `#[rejected]` methods to the rejection of
/// a command it sent, and one `#[deadline]` method to a deadline it set, each deciding through
/// `&mut Process<Self>`. Required: `#[process_manager(name = "transfer", commands(A, B))]`.
#[proc_macro_attribute]
pub fn process_manager(args: TokenStream, item: TokenStream) -> TokenStream {
    process::attribute(args.into(), item.into()).into()
}

/// Derives `chronicle::Query`: `#[query(output = Option<i64>, read_model = AccountBalances)]`.
#[proc_macro_derive(Query, attributes(query))]
pub fn derive_query(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    query::derive(input).into()
}
