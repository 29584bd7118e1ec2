//! Expansion snapshots: what each macro generates for representative inputs, pretty-printed and
//! compared with the `.snap` files in `src/snapshots/`. A change to an expansion fails these tests
//! until the new output is read and accepted:
//!
//! ```text
//! INSTA_UPDATE=always cargo test -p chronicle-macros
//! git diff macros/src/snapshots/   # read every change, then make sure no `.snap.new` is left
//! ```
//!
//! The compile-fail suites (`tests/ui`) check what users see when a macro rejects its input; these
//! snapshots check the code generated when it accepts it.

use proc_macro2::TokenStream;
use quote::quote;

use crate::{aggregate, command, event, process, projection, query};

/// The expansion as Rust source, as `cargo expand` would show it.
fn pretty(tokens: TokenStream) -> String {
    let file = syn::parse2::<syn::File>(tokens.clone())
        .unwrap_or_else(|error| panic!("the expansion is not a Rust file ({error}):\n{tokens}"));
    prettyplease::unparse(&file)
}

fn derive_input(tokens: TokenStream) -> syn::DeriveInput {
    syn::parse2(tokens).expect("a struct or enum")
}

#[test]
fn aggregate_with_every_kind_of_handler_output() {
    // The bank's account, with one handler per way of recording events: one event, a tuple, an
    // `Option`, a `Vec`, and a handler taking the aggregate's services.
    let args = quote!(name = "bank.Account", services = BankServices);
    let item = quote! {
        impl Account {
            #[handle]
            fn open(&self, command: OpenAccount) -> Result<AccountOpened, BankError> {
                Ok(AccountOpened { account_id: command.account_id })
            }

            #[handle]
            fn deposit(&self, command: &Deposit) -> Result<(MoneyDeposited, BonusGranted), BankError> {
                Ok((MoneyDeposited { amount: command.amount }, BonusGranted { amount: 1 }))
            }

            #[handle]
            fn close(&self, command: &Close) -> Result<Option<AccountClosed>, BankError> {
                Ok(self.open.then(|| AccountClosed {}))
            }

            #[handle]
            fn withdraw(&self, command: &Withdraw, services: &BankServices) -> Result<Vec<MoneyWithdrawn>, BankError> {
                Ok(vec![MoneyWithdrawn { amount: services.fee(command.amount) }])
            }

            #[apply]
            fn opened(&mut self, event: &AccountOpened) {
                self.open = true;
            }

            #[apply]
            fn deposited(&mut self, event: &MoneyDeposited) {
                self.balance += event.amount;
            }

            #[apply]
            fn bonus(&mut self, event: &BonusGranted) {
                self.balance += event.amount;
            }

            #[apply]
            fn closed(&mut self, _event: &AccountClosed) {
                self.open = false;
            }

            #[apply]
            fn withdrawn(&mut self, event: &MoneyWithdrawn) {
                self.balance -= event.amount;
            }

            fn ensure_open(&self) -> bool {
                self.open
            }
        }
    };
    insta::assert_snapshot!(pretty(aggregate::attribute(args, item)));
}

#[test]
fn aggregate_with_a_custom_event_enum() {
    let args = quote!(event = CounterChange);
    let item = quote! {
        impl Counter {
            #[handle]
            fn reset(&self, _command: Reset) -> Result<(), std::convert::Infallible> {
                Ok(())
            }

            #[apply]
            fn incremented(&mut self, _event: &Incremented) {
                self.count += 1;
            }
        }
    };
    insta::assert_snapshot!(pretty(aggregate::attribute(args, item)));
}

#[test]
fn event_with_pinned_name_and_version() {
    let input = derive_input(quote! {
        #[derive(Event, Serialize, Deserialize, Debug, Clone)]
        #[event(name = "bank.MoneyDeposited", version = 2)]
        pub struct MoneyDeposited {
            pub account_id: String,
            pub amount: i64,
        }
    });
    insta::assert_snapshot!(pretty(event::derive(input)));
}

#[test]
fn event_with_default_name_and_version() {
    let input = derive_input(quote! {
        #[derive(Event, Serialize, Deserialize, Debug, Clone)]
        pub struct AccountOpened {
            pub account_id: String,
        }
    });
    insta::assert_snapshot!(pretty(event::derive(input)));
}

#[test]
fn command_with_named_id_field() {
    let input = derive_input(quote! {
        #[derive(Command, Debug, Clone)]
        #[command(aggregate = Account)]
        pub struct Deposit {
            #[id]
            pub account_id: String,
            pub amount: i64,
        }
    });
    insta::assert_snapshot!(pretty(command::derive(input)));
}

#[test]
fn command_of_a_tuple_struct() {
    let input = derive_input(quote! {
        #[derive(Command, Debug, Clone)]
        #[command(aggregate = bank::Account)]
        pub struct Close(#[id] pub uuid::Uuid, pub String);
    });
    insta::assert_snapshot!(pretty(command::derive(input)));
}

#[test]
fn command_without_id_reports_and_keeps_the_impl() {
    // The error comes after an impl that keeps the link to the aggregate, so that executing the
    // command is not reported as a second mistake.
    let input = derive_input(quote! {
        #[derive(Command)]
        #[command(aggregate = Account)]
        pub struct Deposit {
            pub amount: i64,
        }
    });
    insta::assert_snapshot!(pretty(command::derive(input)));
}

#[test]
fn projection_with_reset_handlers_and_query() {
    let args = quote!(name = "bank.account_balances", version = 2);
    let item = quote! {
        impl AccountBalances {
            #[reset]
            async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
                sqlx::query("TRUNCATE account_balances").execute(&mut *db).await?;
                Ok(())
            }

            #[on]
            async fn opened(&self, event: &AccountOpened, meta: &RecordedEvent, db: &mut PgConnection) -> Result<(), sqlx::Error> {
                Ok(())
            }

            #[on]
            async fn deposited(&self, event: &MoneyDeposited, db: &mut PgConnection) -> Result<(), sqlx::Error> {
                Ok(())
            }

            #[query]
            async fn balance(&self, query: &BalanceOf, db: &mut ReadOnly<'_, PgConnection>) -> Result<Option<i64>, sqlx::Error> {
                Ok(None)
            }
        }
    };
    insta::assert_snapshot!(pretty(projection::attribute(args, item)));
}

#[test]
fn projection_with_batch_handlers() {
    // Runs of one type go to a batch handler as one slice; other events go to `apply`.
    let args = quote!(name = "bank.account_balances");
    let item = quote! {
        impl AccountBalances {
            #[on]
            async fn opened(&self, events: &[AccountOpened], db: &mut PgConnection) -> Result<(), sqlx::Error> {
                Ok(())
            }

            #[on]
            async fn deposited(&self, events: &[MoneyDeposited], metas: &[RecordedEvent], db: &mut PgConnection) -> Result<(), sqlx::Error> {
                Ok(())
            }

            #[on]
            async fn closed(&self, event: &AccountClosed, db: &mut PgConnection) -> Result<(), sqlx::Error> {
                Ok(())
            }
        }
    };
    insta::assert_snapshot!(pretty(projection::attribute(args, item)));
}

#[test]
fn projection_with_connection_written_two_ways() {
    // A connection spelt differently in two methods is checked to be one type by generated code.
    let args = quote!();
    let item = quote! {
        impl Totals {
            #[on]
            async fn opened(&self, event: &Opened, db: &mut PgConnection) -> Result<(), sqlx::Error> {
                Ok(())
            }

            #[query]
            async fn total(&self, query: &Total, db: &mut ReadOnly<'_, chronicle::sqlx::PgConnection>) -> Result<i64, sqlx::Error> {
                Ok(0)
            }
        }
    };
    insta::assert_snapshot!(pretty(projection::attribute(args, item)));
}

#[test]
fn query_derive() {
    let input = derive_input(quote! {
        #[derive(Query, Debug)]
        #[query(output = Option<i64>, read_model = AccountBalances)]
        pub struct BalanceOf {
            pub account_id: String,
        }
    });
    insta::assert_snapshot!(pretty(query::derive(input)));
}

#[test]
fn process_manager_with_rejections_and_a_deadline() {
    // A transfer: an event handler per aggregate's event, a rejection handler for one of its two
    // commands (the other's `RejectedBy` answers `false`), and a deadline.
    let args = quote!(
        name = "bank.transfer_process",
        commands(DebitForTransfer, CreditForTransfer)
    );
    let item = quote! {
        impl TransferProcess {
            #[on(correlate = transfer_id)]
            fn requested(&mut self, event: &TransferRequested, process: &mut Process<Self>) {
                process.send(DebitForTransfer { account_id: event.from.clone() });
            }

            #[rejected]
            fn credit_refused(&mut self, command: &CreditForTransfer, error: &BankError, process: &mut Process<Self>) {
                process.finish();
            }

            #[deadline]
            fn expired(&mut self, deadline: &TransferDeadline, process: &mut Process<Self>) {}
        }
    };
    insta::assert_snapshot!(pretty(process::attribute(args, item)));
}
