//! `chronicle migrate [--dry-run] [--roles ...]`: the event log's tables and the read store's,
//! created or upgraded, and the roles of least privilege set up on them; or the SQL that would
//! run.

use chronicle::Roles;
use serde_json::json;

use crate::args::Output;
use crate::connect::Target;
use crate::error::CliError;
use crate::output;

pub(crate) async fn run(
    target: &Target,
    dry_run: bool,
    roles: Option<&Roles>,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    // Checked before anything runs: a bad name or a target without roles changes nothing.
    let roles_sql = match roles {
        Some(roles) => {
            let (schema, read_schema) = target.postgres_schemas()?;
            Some(roles.sql(&schema, &read_schema)?)
        }
        None => None,
    };
    if dry_run {
        let [log, read] = target.migration_sql()?;
        return match format {
            Output::Json => output::json(
                out,
                &json!({ "event_log": log, "read_store": read, "roles": roles_sql }),
            ),
            Output::Table => {
                let roles = roles_sql
                    .map(|sql| format!("\n-- the roles of least privilege\n{sql}"))
                    .unwrap_or_default();
                output::text(
                    out,
                    format!(
                        "-- the event log\n{log}\n-- the read store's checkpoints, dead letters and consumers\n{read}{roles}"
                    ),
                )
            }
        };
    }
    let stores = target.open().await?;
    stores.log.migrate().await?;
    stores.read.migrate().await?;
    let roles_set_up = roles_sql.is_some();
    if let Some(sql) = roles_sql {
        stores.log.run_sql(&sql).await?;
    }
    match format {
        Output::Json => output::json(out, &json!({ "migrated": stores.place, "roles": roles_set_up })),
        Output::Table if roles_set_up => output::text(
            out,
            format!("migrated {}, and set up the roles on it", stores.place),
        ),
        Output::Table => output::text(out, format!("migrated {}", stores.place)),
    }
}
