//! `chronicle migrate [--dry-run]`: the event log's tables and the read store's, created or
//! upgraded; or the SQL that would run.

use serde_json::json;

use crate::args::Output;
use crate::connect::Target;
use crate::error::CliError;
use crate::output;

pub(crate) async fn run(
    target: &Target,
    dry_run: bool,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    if dry_run {
        let [log, read] = target.migration_sql()?;
        return match format {
            Output::Json => output::json(out, &json!({ "event_log": log, "read_store": read })),
            Output::Table => output::text(
                out,
                format!("-- the event log\n{log}\n-- the read store's checkpoints, dead letters and consumers\n{read}"),
            ),
        };
    }
    let stores = target.open().await?;
    stores.log.migrate().await?;
    stores.read.migrate().await?;
    match format {
        Output::Json => output::json(out, &json!({ "migrated": stores.place })),
        Output::Table => output::text(out, format!("migrated {}", stores.place)),
    }
}
