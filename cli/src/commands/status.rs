//! `chronicle status`: the log's head and every projection's checkpoint, lag, dead letters and
//! holder (and each version's location of a projection rebuilt blue/green, with the live one
//! marked); with `--tenant`, the head, counts and lag are that tenant's events only.

use std::collections::HashMap;

use chronicle::{CheckpointName, LocationRole, ReadStore as _};
use serde::Serialize;

use crate::args::Output;
use crate::connect::Stores;
use crate::error::CliError;
use crate::output;
use crate::tenant_figures;

/// What `status` reports.
#[derive(Serialize)]
struct Status {
    place: String,
    /// The tenant whose events the figures count (`--tenant`); none: the whole log.
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    /// The newest event's position, if any event is stored.
    head_position: Option<u64>,
    head_recorded_at: Option<String>,
    /// How many events the log holds (committed ones held back by an open transaction too).
    event_count: u64,
    projections: Vec<Checkpoint>,
    /// Why there are no projections to show, when the read store cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    read_store_missing: Option<String>,
}

/// One checkpoint row: a projection's, one partition's of a partitioned projection, or one
/// version's location of a projection rebuilt blue/green.
#[derive(Serialize)]
struct Checkpoint {
    projection: String,
    /// `"<index> of <count>"` for a partition.
    partition: Option<String>,
    /// For a version's location of a projection rebuilt blue/green: `"live"` (queries read it),
    /// `"building"` (newer than the live one, or none is live yet) or `"old"` (older than the live
    /// one; dropped once its runners stopped and the grace period passed). Its position is as its
    /// runner last recorded it.
    location: Option<&'static str>,
    version: u32,
    /// The highest position the checkpoint covers (applied or passed over); `None` before the
    /// first event.
    position: Option<u64>,
    /// Events of any type and stream after the checkpoint: an upper bound of the projection's
    /// lag (it may not handle every type, and a partition handles its own streams only).
    events_behind: u64,
    /// How long ago the first of those was recorded.
    seconds_behind: f64,
    /// The events its current version could not apply (of the tenant, with `--tenant`).
    dead_letters: usize,
    /// Who holds the projection's (or partition's) claim: a runner's id, or a session.
    holder: Option<String>,
    /// Whether an operator paused the projection's runners (`pause`, in an application's
    /// embedded command line).
    paused: bool,
}

pub(crate) async fn run(
    stores: &Stores,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    let tenant = stores.log.tenant().clone();
    let (head_position, head_recorded_at, event_count) = if tenant.is_none() {
        let head = stores.log.head().await?;
        let everything = stores.log.progress(chronicle::Checkpoint::START).await?;
        let count = everything.readable + everything.held_back;
        (head.position, head.recorded_at, count)
    } else {
        let totals = tenant_figures::totals(&stores.log, &tenant).await?;
        (totals.head_position, totals.head_recorded_at, totals.events)
    };
    let mut projections = Vec::new();
    // The log's head is worth showing even where no read store is.
    let (rows, read_store_missing) = match stores.checkpoints().await {
        Ok(rows) => (rows, None),
        Err(missing @ CliError::NoReadStore { .. }) => (Vec::new(), Some(missing.to_string())),
        Err(other) => return Err(other),
    };
    // Each row's name, told apart once.
    let names: Vec<(&str, CheckpointName<'_>, &chronicle::CheckpointRow)> = rows
        .iter()
        .map(|(stored, row)| (stored.as_str(), CheckpointName::of(stored), row))
        .collect();
    let paused: Vec<&str> = names
        .iter()
        .filter_map(|(_, name, row)| match name {
            CheckpointName::Paused(projection) if row.checkpoint.position == 1 => Some(*projection),
            _ => None,
        })
        .collect();
    // The live versions of projections rebuilt blue/green: marker rows, not checkpoints.
    let live: HashMap<&str, u32> = names
        .iter()
        .filter_map(|(_, name, row)| match name {
            CheckpointName::Live(projection) => Some((*projection, row.version)),
            _ => None,
        })
        .collect();
    for &(stored, name, row) in &names {
        let (partition, location) = match name {
            CheckpointName::Projection(_) => (None, None),
            CheckpointName::Partition { partition, .. } => {
                (Some(format!("{} of {}", partition.index, partition.count)), None)
            }
            CheckpointName::Location { projection, version } => (
                None,
                Some(LocationRole::of(live.get(projection).copied(), version).label()),
            ),
            // Markers, no checkpoints.
            _ => continue,
        };
        let projection = name.projection();
        let paused = paused.contains(&projection);
        let progress = stores.log.progress(row.checkpoint).await?;
        let (events_behind, oldest_behind) = if tenant.is_none() {
            (progress.readable, progress.oldest_readable_at)
        } else {
            let behind = tenant_figures::behind(&stores.log, &tenant, row.checkpoint).await?;
            (behind.events, behind.oldest_recorded_at)
        };
        let seconds_behind = oldest_behind
            .and_then(|at| (chrono::Utc::now() - at).to_std().ok())
            .map_or(0.0, |age| age.as_secs_f64());
        // A location's letters are kept in the location, which only the application opens.
        let dead_letters = match location {
            Some(_) => 0,
            None => {
                let letters = stores.read.dead_letters(stored, row.version).await?;
                stores.log.letters_of_tenant(letters).await?.len()
            }
        };
        projections.push(Checkpoint {
            projection: projection.to_owned(),
            partition,
            location,
            version: row.version,
            position: progress.position,
            events_behind,
            seconds_behind,
            dead_letters,
            // A location's claim is kept in the location, which only the application opens.
            holder: match location {
                Some(_) => None,
                None => stores.read.holder(stored).await?,
            },
            paused,
        });
    }
    let status = Status {
        place: stores.place.clone(),
        tenant: (!tenant.is_none()).then(|| tenant.to_string()),
        head_position,
        head_recorded_at: head_recorded_at.map(output::time),
        event_count,
        projections,
        read_store_missing,
    };
    match format {
        Output::Json => output::json(out, &status),
        Output::Table => {
            let whose = match &status.tenant {
                Some(tenant) => format!(", tenant {tenant}"),
                None => String::new(),
            };
            let head = match (status.head_position, &status.head_recorded_at) {
                (Some(position), Some(at)) => {
                    format!(
                        "log: {}{whose} at position {position} ({} events), last event {at}",
                        status.place, status.event_count
                    )
                }
                _ => format!("log: {}{whose}, no events yet", status.place),
            };
            output::text(out, head)?;
            if let Some(why) = &status.read_store_missing {
                return output::text(out, why);
            }
            if status.projections.is_empty() {
                return output::text(out, "no projection has a checkpoint yet");
            }
            let mut table = output::table([
                "projection",
                "partition",
                "location",
                "version",
                "position",
                "events behind",
                "seconds behind",
                "dead letters",
                "holder",
            ]);
            let any_paused = status.projections.iter().any(|p| p.paused);
            for p in &status.projections {
                table.add_row([
                    p.projection.clone(),
                    p.partition.clone().unwrap_or_default(),
                    p.location.unwrap_or_default().to_owned(),
                    p.version.to_string(),
                    p.position.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                    p.events_behind.to_string(),
                    format!("{:.1}", p.seconds_behind),
                    p.dead_letters.to_string(),
                    match (&p.holder, p.paused) {
                        (_, true) => "paused".to_owned(),
                        (Some(holder), false) => holder.clone(),
                        (None, false) => "-".to_owned(),
                    },
                ]);
            }
            output::text(out, table)?;
            if any_paused {
                output::text(
                    out,
                    "paused: no runner applies events until the projection is resumed",
                )?;
            }
            Ok(())
        }
    }
}
