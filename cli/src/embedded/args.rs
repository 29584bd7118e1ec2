//! The embedded command line: `chronicle`'s commands and the application's own.

use clap::{Parser, Subcommand};

use crate::args::{Command, Global};

/// An application's operator commands: Chronicle's, and those that run its projections.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "The operator's commands of this application's event store and projections"
)]
pub struct AppCli {
    /// Where the standalone commands connect, and how to print.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: AppCommand,
}

impl AppCli {
    /// The process's arguments, parsed; on bad arguments (or `--help`), clap's message and exit.
    pub fn from_env() -> Self {
        <Self as Parser>::parse()
    }
}

/// The commands: the standalone ones, and those that need the application's projections.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// The commands of the standalone `chronicle` tool.
    #[command(flatten)]
    Chronicle(Command),
    /// The projections registered in this binary, with their versions.
    Projections,
    /// Empties a projection's read model and replays it from the first event, showing progress
    /// (rate and ETA); the runner that leads elsewhere replays it, or this command runs one
    /// until it has caught up.
    Rebuild {
        /// The projection's name.
        projection: String,
    },
    /// Stops every runner of a projection from applying events, in every process, until
    /// `resume`.
    Pause {
        /// The projection's name.
        projection: String,
    },
    /// Lets a paused projection's runners carry on from its checkpoint.
    Resume {
        /// The projection's name.
        projection: String,
    },
    /// The event-schema gate: compares the stored shape of every event type and version this
    /// binary reads with the lock file (`check`, failing on a shape changed without a new
    /// version, a version no longer read, or one not recorded), or records them (`update`).
    EventSchema {
        /// Check or update.
        #[command(subcommand)]
        command: EventSchemaCommand,
    },
    /// Builds a projection's read model as it was at a position or a time into another place
    /// (a Postgres schema, a SQLite file, or a read store's URL), beside the live one.
    Replay {
        /// The projection's name.
        projection: String,
        /// Where to build it: a schema of the read store's Postgres database, a SQLite file, or
        /// the URL of a read store (`postgres://...`, `sqlite:<file>`, `mysql://...`).
        #[arg(long)]
        into: String,
        /// The events up to this global position.
        #[arg(long, conflicts_with = "as_of")]
        until_position: Option<u64>,
        /// The events recorded up to this time (RFC 3339).
        #[arg(long)]
        as_of: Option<String>,
    },
}

/// What to do with the event lock file.
#[derive(Debug, Subcommand)]
pub enum EventSchemaCommand {
    /// Fails, naming each event, version and field, when the code and the lock file disagree.
    Check {
        /// The lock file.
        #[arg(long, default_value = "events.lock.json")]
        lock: std::path::PathBuf,
    },
    /// Writes the code's shapes to the lock file: the deliberate update, once a change is known
    /// to be safe for the rows already stored.
    Update {
        /// The lock file.
        #[arg(long, default_value = "events.lock.json")]
        lock: std::path::PathBuf,
    },
}
