//! The command line.

use clap::{Parser, Subcommand, ValueEnum};

/// The operator's command line of a Chronicle event store.
#[derive(Debug, Parser)]
#[command(name = "chronicle", version, about, long_about = None)]
pub struct Cli {
    /// Where to connect, and how to print.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The options every command takes: where the stores are, and how to print.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// The database of the event log and of the read store's checkpoints: `postgres://...` or
    /// `sqlite:<file>`.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// The Postgres schema the tables are in.
    #[arg(long, default_value = "public", global = true)]
    pub schema: String,
    /// The read store's database when it is not the event log's (level 2): `postgres://...`,
    /// `sqlite:<file>` or `mysql://...` (MariaDB).
    #[arg(long, env = "READ_DATABASE_URL", global = true, hide_env_values = true)]
    pub read_database_url: Option<String>,
    /// The Postgres schema of that read store (default: `--schema`).
    #[arg(long, global = true)]
    pub read_schema: Option<String>,
    /// The tenant whose streams, events, correlations and dead letters to show (default: every
    /// tenant's events and dead letters, and the streams of no tenant).
    #[arg(long, global = true)]
    pub tenant: Option<String>,
    /// How to print: a table for people, JSON for scripts.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
}

/// A time as the command line takes it: RFC 3339.
pub(crate) fn rfc3339(text: &str) -> Result<chrono::DateTime<chrono::Utc>, crate::error::CliError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|_| {
            crate::error::CliError::Invalid(format!(
                "`{text}` is not a time: give RFC 3339, as in 2026-12-01T10:00:00Z"
            ))
        })
}

/// How a command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables that fit the terminal.
    Table,
    /// One JSON document.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Creates Chronicle's tables, or upgrades them (the event log and the read store's).
    Migrate {
        /// Prints the SQL that would run instead of running it.
        #[arg(long)]
        dry_run: bool,
        /// Also sets up the roles of least privilege (Postgres, the read store in the same
        /// database): an owner of the tables, a writer, a projector and a reader. Run it as a
        /// superuser.
        #[command(flatten)]
        roles: RoleArgs,
    },
    /// The log's head and every projection's checkpoint, lag, dead letters and holder; with
    /// `--tenant`, the head, counts and lag of that tenant's events.
    Status,
    /// Forgets a data subject (crypto-shredding): destroys its key in the log's key table, so
    /// that every `#[pii]` field of it reads redacted from now on, deletes the snapshots that hold
    /// its data, and refuses new personal data of it. With `--tenant`, that tenant's subject (the
    /// same id in another tenant is another person). Idempotent; cannot be undone.
    Forget {
        /// The subject's id: the value of its events' subject field.
        subject: String,
        /// Confirms it: a forgotten subject's data cannot be brought back.
        #[arg(long)]
        yes: bool,
    },
    /// The log's streams.
    Streams {
        /// Which.
        #[command(subcommand)]
        command: StreamsCommand,
    },
    /// The log's events, in the order subscribers read them.
    Events {
        /// Which.
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// The events projections could not apply.
    DeadLetters {
        /// Which.
        #[command(subcommand)]
        command: DeadLettersCommand,
    },
    /// Serves the admin page (dashboard, streams, traces, projections, dead letters, audit,
    /// /metrics) on these stores until interrupted.
    Admin {
        /// Where to listen, as in `127.0.0.1:8080` (port 0: any free port; the address is printed).
        #[arg(long)]
        listen: String,
        /// The admin token that allows actions (dead-letter retries and skips); without one the
        /// page is read-only. Prefer the environment variable: a command line is visible to
        /// everyone on the machine.
        #[arg(long, env = "CHRONICLE_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Who acts with that token, in the audit table.
        #[arg(long, default_value = "admin")]
        token_name: String,
        /// JSON fields whose values are shown as `***` in payloads and metadata (repeat the option).
        #[arg(long)]
        mask: Vec<String>,
    },
    /// Every event of one business transaction (a correlation id) in log order, grouped by the
    /// command that recorded it, each command under the one that caused it.
    Trace {
        /// The correlation id (a UUID).
        correlation_id: String,
    },
}

/// What to do with the log's events.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// The events after a position, one per line (JSON Lines with `--output json`), in commit
    /// order; with `--follow`, then each new one as it is committed, until interrupted.
    Tail {
        /// Start after this global position (0: from the first event).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Only events of these types (repeat the option for several).
        #[arg(long = "type")]
        event_types: Vec<String>,
        /// Only the events of this stream.
        #[arg(long)]
        stream: Option<String>,
        /// Only the events of this correlation id.
        #[arg(long)]
        correlation: Option<String>,
        /// Keep printing new events as they are committed.
        #[arg(long)]
        follow: bool,
    },
}

/// What to do with dead letters.
#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Every projection's dead letters (of its current version), or one projection's.
    Ls {
        /// Only this projection's (or partition's: `<projection>/<i>-of-<n>`).
        #[arg(long)]
        projection: Option<String>,
    },
    /// One dead letter, with the event it holds back.
    Show {
        /// The projection (or partition) that recorded it.
        projection: String,
        /// The event's global position.
        position: u64,
    },
    /// Asks the projection's active runner to apply the event of one dead letter again (once
    /// its handler is fixed): on success the letter goes, on failure it stays with the new error.
    /// The runner looks for requests each time it renews its claim (a third of its lease).
    Retry {
        /// The projection (or partition) that recorded it.
        projection: String,
        /// The event's global position.
        position: u64,
    },
    /// Deletes one dead letter: the projection stays past the event without applying it (the
    /// event stays in the log; a rebuild of the projection applies it again).
    Skip {
        /// The projection (or partition) that recorded it.
        projection: String,
        /// The event's global position.
        position: u64,
    },
}

/// What to do with streams.
#[derive(Debug, Subcommand)]
pub enum StreamsCommand {
    /// The log's streams with their version and newest event's time, a page at a time.
    Ls {
        /// Only the streams of this aggregate (their ids start with `<aggregate>-`).
        #[arg(long)]
        aggregate: Option<String>,
        /// Start after this stream id (the last of the previous page).
        #[arg(long, default_value = "")]
        after: String,
        /// Streams per page (1 to 1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
    },
    /// The events of one stream, with their metadata.
    Show {
        /// The stream id (`<aggregate>-<id>`).
        stream: String,
        /// Only the events up to this stream version: the stream as it was then.
        #[arg(long, conflicts_with = "as_of")]
        at_version: Option<u64>,
        /// Only the events recorded at or before this time (RFC 3339, `2026-12-01T10:00:00Z`).
        #[arg(long)]
        as_of: Option<String>,
    },
}

/// The roles `migrate --roles` sets up, by name.
#[derive(Debug, Clone, clap::Args)]
pub struct RoleArgs {
    /// Sets up the roles (see `chronicle::Roles`).
    #[arg(long = "roles")]
    pub enabled: bool,
    /// The role that owns the schemas and Chronicle's tables (cannot log in).
    #[arg(long, default_value = "chronicle_owner", requires = "enabled")]
    pub owner: String,
    /// The role of command processing: inserts and reads events, nothing else on them.
    #[arg(long, default_value = "chronicle_writer", requires = "enabled")]
    pub writer: String,
    /// The role of projection runners: reads events, writes the read models.
    #[arg(long, default_value = "chronicle_projector", requires = "enabled")]
    pub projector: String,
    /// The role of queries: reads the read models only.
    #[arg(long, default_value = "chronicle_reader", requires = "enabled")]
    pub reader: String,
}

impl RoleArgs {
    /// The roles asked for, if any.
    pub fn roles(&self) -> Option<chronicle::Roles> {
        self.enabled.then(|| {
            chronicle::Roles::new()
                .owner(&self.owner)
                .writer(&self.writer)
                .projector(&self.projector)
                .reader(&self.reader)
        })
    }
}
