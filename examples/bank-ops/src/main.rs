//! `bank-ops`: the bank's operator commands in its own binary. Every command of `chronicle`,
//! plus those that need the bank's views: `projections`, `rebuild`, `pause`, `resume`, `replay`;
//! and `event-schema check|update` on the bank's events (`examples/bank/events.lock.json`).
//!
//! The stores are the bank example's: the SQLite file `chronicle-bank.db` unless
//! `--database-url`/`DATABASE_URL` names another file or a Postgres database; the views are in the
//! same database, in the `--schema` schema on Postgres.

use std::error::Error;
use std::process::ExitCode;

use bank::views::{AccountBalances, TopAccounts};
use chronicle::event_schema::EventSchemas;
use chronicle::{EventSource, PostgresReadStore, PostgresStore, SqlReadStore, SqliteReadStore, SqliteStore};
use chronicle_cli::{fail, AppCli, AppCommands};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = AppCli::from_env();
    let url = cli
        .global
        .database_url
        .as_deref()
        .unwrap_or("sqlite:chronicle-bank.db");
    match url.strip_prefix("sqlite:") {
        Some(path) => match sqlite(path).await {
            Ok((store, views)) => commands(store, views).main(&cli).await,
            Err(error) => fail(&error),
        },
        None => match postgres(url, &cli.global.schema).await {
            Ok((store, views)) => commands(store, views).main(&cli).await,
            Err(error) => fail(&error),
        },
    }
}

// ANCHOR: embedded
/// The bank's views, registered once (both are written once for either engine), and its events
/// for the event-schema gate.
fn commands<S: EventSource + Clone>(store: S, views: SqlReadStore) -> AppCommands<S> {
    AppCommands::new(store)
        .projection(AccountBalances::default, views.clone())
        .projection(TopAccounts::default, views)
        .event_schemas(
            EventSchemas::new()
                .aggregate::<bank::Account>()
                .aggregate::<bank::transfer::Transfer>(),
        )
}
// ANCHOR_END: embedded

async fn sqlite(path: &str) -> Result<(SqliteStore, SqlReadStore), Box<dyn Error>> {
    let store = SqliteStore::open(path).await?;
    let views = SqlReadStore::from(SqliteReadStore::from_pool(store.pool().clone()));
    Ok((store, views))
}

async fn postgres(url: &str, schema: &str) -> Result<(PostgresStore, SqlReadStore), Box<dyn Error>> {
    let store = PostgresStore::connect(url).await?.with_schema(schema)?;
    let views = SqlReadStore::from(PostgresReadStore::beside(&store));
    Ok((store, views))
}
