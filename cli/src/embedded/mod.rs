//! The command line an application embeds in its own binary: every command of `chronicle`, plus
//! those that need the application's projections (`rebuild`, `pause`, `resume`, `replay`,
//! `projections`) or its event types (`event-schema check|update`, the event-schema gate), the
//! way Marten's command line lives in the application.
//!
//! ```ignore
//! let cli = chronicle_cli::AppCli::from_env();
//! chronicle_cli::AppCommands::new(event_store)
//!     .projection(AccountBalances::default, read_store.clone())
//!     .main(&cli)
//!     .await
//! ```
//!
//! `args.rs` is the command line (the `chronicle` one, flattened in), `registered.rs` what is
//! kept of each projection (its type erased), `rebuild.rs` a rebuild with its progress bar.

mod args;
mod rebuild;
mod registered;
mod replay;

use std::process::ExitCode;

use chronicle::event_schema::SchemaGateError;
use chronicle::{EventSource, Projection};
use serde::Serialize;

pub use self::args::{AppCli, AppCommand, EventSchemaCommand};
use self::registered::{Registered, Typed};
pub use self::replay::ReplayTarget;
use crate::args::Output;
use crate::error::CliError;
use crate::output;

/// An application's command line: its projections, registered once, and the event store they
/// are fed from.
pub struct AppCommands<S> {
    source: S,
    projections: Vec<Box<dyn Registered<S>>>,
    event_schemas: chronicle::event_schema::EventSchemas,
}

impl<S: EventSource + Clone> AppCommands<S> {
    /// The commands of an application whose events are in `source`.
    pub fn new(source: S) -> Self {
        Self {
            source,
            projections: Vec::new(),
            event_schemas: chronicle::event_schema::EventSchemas::new(),
        }
    }

    /// The event types `event-schema check|update` gates: `EventSchemas::new().aggregate::<A>()`
    /// for each aggregate.
    pub fn event_schemas(mut self, schemas: chronicle::event_schema::EventSchemas) -> Self {
        self.event_schemas = schemas;
        self
    }

    /// Registers a projection whose read model is in `store`; `make` makes the projection (its
    /// `Default::default` will do), each time a command needs one to run.
    pub fn projection<P>(mut self, make: fn() -> P, store: P::Store) -> Self
    where
        P: Projection,
        P::Store: ReplayTarget,
    {
        self.projections.push(Box::new(Typed { make, store }));
        self
    }

    /// Runs `cli`'s command (see [`AppCli::from_env`]), printing to standard output; an error in
    /// one line on standard error, with a non-zero exit. What `main` returns.
    pub async fn main(self, cli: &AppCli) -> ExitCode {
        let mut out = std::io::stdout().lock();
        match self.run(cli, &mut out).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        }
    }

    /// Runs `cli`'s command, writing its output to `out`.
    pub async fn run(&self, cli: &AppCli, out: &mut impl std::io::Write) -> Result<(), CliError> {
        let format = cli.global.output;
        match &cli.command {
            AppCommand::Chronicle(command) => crate::run_command(&cli.global, command, out).await,
            AppCommand::Projections => self.list(format, out),
            AppCommand::EventSchema { command } => self.event_schema(command, format, out),
            AppCommand::Rebuild { projection } => {
                let report = self.find(projection)?.rebuild(&self.source).await?;
                match format {
                    Output::Json => output::json(out, &serde_json::json!({ "rebuilt": report })),
                    Output::Table => output::text(out, report.sentence(projection)),
                }
            }
            AppCommand::Pause { projection } => {
                let changed = self.find(projection)?.pause().await?;
                let text = match changed {
                    true => format!(
                        "paused {projection}: its runners step down within a third of their lease, \
                         and none leads until `resume`"
                    ),
                    false => format!("{projection} was paused already"),
                };
                toggled(out, format, "paused", projection, changed, text)
            }
            AppCommand::Resume { projection } => {
                let changed = self.find(projection)?.resume().await?;
                let text = match changed {
                    true => format!(
                        "resumed {projection}: a runner leads again and carries on from its checkpoint"
                    ),
                    false => format!("{projection} was not paused"),
                };
                toggled(out, format, "resumed", projection, changed, text)
            }
            AppCommand::Replay {
                projection,
                into,
                until_position,
                as_of,
            } => {
                let until = match (until_position, as_of) {
                    (Some(position), _) => chronicle::Until::Position(*position),
                    (None, Some(text)) => chronicle::Until::Time(crate::args::rfc3339(text)?),
                    (None, None) => {
                        return Err(CliError::Invalid(
                            "say how far to replay: --until-position N or --as-of TIME".to_owned(),
                        ))
                    }
                };
                let replayed = self.find(projection)?.replay(&self.source, into, until).await?;
                match format {
                    Output::Json => output::json(
                        out,
                        &serde_json::json!({ "replayed": {
                            "projection": projection, "into": into,
                            "applied": replayed.applied, "through": replayed.through,
                        } }),
                    ),
                    Output::Table => output::text(
                        out,
                        format!(
                            "replayed {projection} into {into}: {} events applied, the log up to position {}",
                            replayed.applied,
                            replayed
                                .through
                                .map_or_else(|| "0 (nothing in the bound)".to_owned(), |p| p.to_string())
                        ),
                    ),
                }
            }
        }
    }

    /// The registered projection named `name`.
    fn find(&self, name: &str) -> Result<&dyn Registered<S>, CliError> {
        self.projections
            .iter()
            .find(|p| p.name() == name)
            .map(|p| &**p)
            .ok_or_else(|| {
                let known: Vec<&str> = self.projections.iter().map(|p| p.name()).collect();
                CliError::Invalid(format!(
                    "no projection `{name}` is registered in this binary (it has: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
            })
    }

    fn list(&self, format: Output, out: &mut impl std::io::Write) -> Result<(), CliError> {
        #[derive(Serialize)]
        struct Listed {
            projection: &'static str,
            version: u32,
        }
        let listed: Vec<Listed> = self
            .projections
            .iter()
            .map(|p| Listed {
                projection: p.name(),
                version: p.version(),
            })
            .collect();
        match format {
            Output::Json => output::json(out, &listed),
            Output::Table => {
                let mut table = output::table(["projection", "version"]);
                for p in &listed {
                    table.add_row([p.projection.to_owned(), p.version.to_string()]);
                }
                output::text(out, table)
            }
        }
    }
}

/// Prints `error` in one line, as the program's, for a non-zero exit: what an application's
/// `main` returns when it cannot even open its stores.
pub fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    let program = std::env::args()
        .next()
        .and_then(|path| {
            std::path::Path::new(&path)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "chronicle".to_owned());
    eprintln!("{program}: {error}");
    ExitCode::FAILURE
}

/// What `pause` and `resume` print.
fn toggled(
    out: &mut impl std::io::Write,
    format: Output,
    what: &str,
    projection: &str,
    changed: bool,
    text: String,
) -> Result<(), CliError> {
    match format {
        Output::Json => output::json(
            out,
            &serde_json::json!({ what: { "projection": projection, "changed": changed } }),
        ),
        Output::Table => output::text(out, text),
    }
}

impl<S> AppCommands<S> {
    /// `event-schema check` or `update` on the registered event types. A disagreement is
    /// reported on `out`, every problem with its fix, and fails with one line.
    fn event_schema(
        &self,
        command: &EventSchemaCommand,
        format: Output,
        out: &mut impl std::io::Write,
    ) -> Result<(), CliError> {
        // Each stored name and version once (an event of two aggregates is collected twice).
        let shapes = self
            .event_schemas
            .shapes()
            .iter()
            .map(|shape| (shape.name, shape.version))
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        if shapes == 0 {
            return Err(CliError::Invalid(
                "no event types are registered: give them with `AppCommands::event_schemas`".to_owned(),
            ));
        }
        let (verb, lock, outcome) = match command {
            EventSchemaCommand::Check { lock } => ("agree with", lock, self.event_schemas.check(lock)),
            EventSchemaCommand::Update { lock } => ("recorded in", lock, self.event_schemas.write(lock)),
        };
        let shown = lock.display().to_string();
        match outcome {
            Ok(()) => match format {
                Output::Json => output::json(
                    out,
                    &serde_json::json!({ "lock": shown, "shapes": shapes, "ok": true }),
                ),
                Output::Table => output::text(out, format!("{shapes} event shapes {verb} {shown}")),
            },
            Err(SchemaGateError::Problems { problems, .. }) => {
                match format {
                    Output::Json => {
                        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
                        output::json(
                            out,
                            &serde_json::json!({ "lock": shown, "ok": false, "problems": listed }),
                        )?;
                    }
                    Output::Table => {
                        for problem in &problems {
                            output::text(out, format!("- {problem}"))?;
                        }
                    }
                }
                Err(CliError::Invalid(format!(
                    "the events disagree with the lock file {shown}: {} problem{} (listed above), \
                     each with its fix",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                )))
            }
            Err(other) => Err(CliError::Invalid(other.to_string())),
        }
    }
}
