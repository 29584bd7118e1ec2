//! The commands of the `chronicle` binary, for operators of a Chronicle event store: `migrate`,
//! `status`, `streams ls|show`, `events tail`, `dead-letters ls|show|retry|skip`, `trace`, `admin`. Each connects from `--database-url` (or `DATABASE_URL`:
//! `postgres://...` or `sqlite:<file>`), reads with Chronicle's own stores, and prints a table
//! that fits a terminal, or JSON with `--output json` for scripts.
//!
//! `args.rs` is the command line (clap), `connect.rs` opens the stores a URL names,
//! `commands/` has one file per command, `output.rs` the tables, `error.rs` what can go wrong.

#![deny(missing_docs)]

mod args;
mod commands;
mod connect;
mod embedded;
mod error;
mod output;
mod tenant_figures;

pub use crate::args::{Cli, Command, DeadLettersCommand, EventsCommand, Global, Output, StreamsCommand};
pub use crate::embedded::{fail, AppCli, AppCommand, AppCommands, ReplayTarget};
pub use crate::error::CliError;

/// Runs `cli`'s command, writing its output to `out`.
pub async fn run(cli: &Cli, out: &mut impl std::io::Write) -> Result<(), CliError> {
    run_command(&cli.global, &cli.command, out).await
}

/// Runs `command` on the stores `global` names, writing its output to `out`.
pub(crate) async fn run_command(
    global: &Global,
    command: &Command,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    let url = global.database_url.as_deref().ok_or(CliError::NoDatabase)?;
    let mut target = connect::Target::parse(url, &global.schema)?;
    if let Some(read_url) = &global.read_database_url {
        let schema = global.read_schema.as_deref().unwrap_or(&global.schema);
        target = target.with_read_store(connect::ReadTarget::parse(read_url, schema)?);
    }
    let output = global.output;
    let tenant = match &global.tenant {
        Some(id) => chronicle::Tenant::new(id)?,
        None => chronicle::Tenant::none(),
    };
    let open = || async { Ok::<_, CliError>(target.open_existing().await?.for_tenant(tenant.clone())) };
    match command {
        Command::Migrate { dry_run, roles } => {
            commands::migrate::run(&target, *dry_run, roles.roles().as_ref(), output, out).await
        }
        Command::Status => {
            let stores = open().await?;
            commands::status::run(&stores, output, out).await
        }
        Command::Forget { subject, yes } => {
            let stores = open().await?;
            commands::forget::run(&stores, subject, *yes, output, out).await
        }
        Command::Streams {
            command:
                StreamsCommand::Ls {
                    aggregate,
                    after,
                    limit,
                },
        } => {
            let stores = open().await?;
            commands::streams::list(
                &stores,
                aggregate.as_deref(),
                after,
                usize::from(*limit),
                output,
                out,
            )
            .await
        }
        Command::Streams {
            command:
                StreamsCommand::Show {
                    stream,
                    at_version,
                    as_of,
                },
        } => {
            let stores = open().await?;
            let until = commands::streams::Until::parse(*at_version, as_of.as_deref())?;
            commands::streams::show(&stores, stream, until, output, out).await
        }
        Command::Events {
            command:
                EventsCommand::Tail {
                    from,
                    event_types,
                    stream,
                    correlation,
                    follow,
                },
        } => {
            let stores = open().await?;
            let filter =
                commands::events::Filter::parse(event_types, stream.as_deref(), correlation.as_deref())?;
            commands::events::tail(&stores, *from, &filter, *follow, output, out).await
        }
        Command::DeadLetters { command } => {
            let stores = open().await?;
            match command {
                DeadLettersCommand::Ls { projection } => {
                    commands::dead_letters::list(&stores, projection.as_deref(), output, out).await
                }
                DeadLettersCommand::Show { projection, position } => {
                    commands::dead_letters::show(&stores, projection, *position, output, out).await
                }
                DeadLettersCommand::Retry { projection, position } => {
                    commands::dead_letters::retry(&stores, projection, *position, output, out).await
                }
                DeadLettersCommand::Skip { projection, position } => {
                    commands::dead_letters::skip(&stores, projection, *position, output, out).await
                }
            }
        }
        Command::Admin {
            listen,
            token,
            token_name,
            mask,
        } => {
            let stores = open().await?;
            let access = commands::admin::Access {
                token: token.as_deref(),
                token_name,
                mask,
            };
            commands::admin::run(&stores, listen, &access, out).await
        }
        Command::Trace { correlation_id } => {
            let stores = open().await?;
            commands::trace::run(&stores, correlation_id, output, out).await
        }
    }
}
