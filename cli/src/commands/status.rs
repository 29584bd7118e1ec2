//! `chronicle status`: the log's head and every projection's checkpoint, lag and holder (and
//! each version's location of a projection rebuilt blue/green, with the live one marked).

use std::collections::HashMap;

use chronicle::ReadStore as _;
use serde::Serialize;

use crate::args::Output;
use crate::connect::Stores;
use crate::error::CliError;
use crate::output;

/// What `status` reports.
#[derive(Serialize)]
struct Status {
    place: String,
    /// The newest event's position, if any event is stored.
    head_position: Option<u64>,
    head_recorded_at: Option<String>,
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
    let head = stores.log.head().await?;
    let mut projections = Vec::new();
    // The log's head is worth showing even where no read store is.
    let (rows, read_store_missing) = match stores.checkpoints().await {
        Ok(rows) => (rows, None),
        Err(missing @ CliError::NoReadStore { .. }) => (Vec::new(), Some(missing.to_string())),
        Err(other) => return Err(other),
    };
    let paused: Vec<&str> = rows
        .iter()
        .filter(|(name, row)| name.ends_with("/paused") && row.checkpoint.position == 1)
        .filter_map(|(name, _)| name.strip_suffix("/paused"))
        .collect();
    // The live versions of projections rebuilt blue/green: marker rows, not checkpoints.
    let live: HashMap<&str, u32> = rows
        .iter()
        .filter_map(|(name, row)| Some((name.strip_suffix("/live")?, row.version)))
        .collect();
    for (name, row) in &rows {
        let Some((projection, kind)) = split(name) else {
            continue;
        };
        let (partition, location) = match kind {
            Kind::Projection => (None, None),
            Kind::Partition(partition) => (Some(partition), None),
            Kind::Location(version) => (None, Some(location_state(live.get(projection.as_str()), version))),
        };
        let paused = paused.contains(&projection.as_str());
        let progress = stores.log.progress(row.checkpoint).await?;
        let seconds_behind = progress
            .oldest_readable_at
            .and_then(|at| (chrono::Utc::now() - at).to_std().ok())
            .map_or(0.0, |age| age.as_secs_f64());
        projections.push(Checkpoint {
            projection,
            partition,
            location,
            version: row.version,
            position: progress.position,
            events_behind: progress.readable,
            seconds_behind,
            // A location's claim is kept in the location, which only the application opens.
            holder: match location {
                Some(_) => None,
                None => stores.read.holder(name).await?,
            },
            paused,
        });
    }
    let status = Status {
        place: stores.place.clone(),
        head_position: head.position,
        head_recorded_at: head.recorded_at.map(output::time),
        projections,
        read_store_missing,
    };
    match format {
        Output::Json => output::json(out, &status),
        Output::Table => {
            let head = match (status.head_position, &status.head_recorded_at) {
                (Some(position), Some(at)) => {
                    format!("log: {} at position {position}, last event {at}", status.place)
                }
                _ => format!("log: {}, no events yet", status.place),
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

/// What a checkpoint row is of.
#[derive(Debug, PartialEq)]
enum Kind {
    Projection,
    /// `"<index> of <count>"`.
    Partition(String),
    /// A version's location of a projection rebuilt blue/green.
    Location(u32),
}

/// A checkpoint row's projection and what the row is of: the projection, a partition
/// (`<projection>/<i>-of-<n>`) or a blue/green location (`<projection>/v<N>`); `None` for the
/// marker rows that are no checkpoint: a partitioned projection's layout
/// (`<projection>/partitions`), a blue/green projection's live version (`<projection>/live`) and
/// a pause (`<projection>/paused`).
fn split(name: &str) -> Option<(String, Kind)> {
    if name.ends_with("/partitions") || name.ends_with("/live") || name.ends_with("/paused") {
        return None;
    }
    if let Some((projection, last)) = name.rsplit_once('/') {
        if let Some((index, count)) = last.split_once("-of-") {
            if index.parse::<u32>().is_ok() && count.parse::<u32>().is_ok() {
                return Some((
                    projection.to_owned(),
                    Kind::Partition(format!("{index} of {count}")),
                ));
            }
        }
        if let Some(version) = last.strip_prefix('v') {
            if version.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(version) = version.parse() {
                    return Some((projection.to_owned(), Kind::Location(version)));
                }
            }
        }
    }
    Some((name.to_owned(), Kind::Projection))
}

/// Where a location of `version` stands, when `live` is the live version.
fn location_state(live: Option<&u32>, version: u32) -> &'static str {
    match live {
        Some(live) if *live == version => "live",
        Some(live) if *live > version => "old",
        _ => "building",
    }
}

#[cfg(test)]
mod tests {
    use super::{location_state, split, Kind};

    #[test]
    fn partitions_and_layout_rows_are_told_apart() {
        assert_eq!(
            split("bank.balances"),
            Some(("bank.balances".to_owned(), Kind::Projection))
        );
        assert_eq!(
            split("bank.balances/2-of-4"),
            Some(("bank.balances".to_owned(), Kind::Partition("2 of 4".to_owned())))
        );
        assert_eq!(split("bank.balances/partitions"), None);
        assert_eq!(split("bank.balances/paused"), None);
        assert_eq!(split("a/b"), Some(("a/b".to_owned(), Kind::Projection)));
        assert_eq!(split("a/x-of-4"), Some(("a/x-of-4".to_owned(), Kind::Projection)));
    }

    #[test]
    fn blue_green_rows_are_told_apart() {
        assert_eq!(split("bank.balances/live"), None);
        assert_eq!(
            split("bank.balances/v2"),
            Some(("bank.balances".to_owned(), Kind::Location(2)))
        );
        assert_eq!(split("a/v"), Some(("a/v".to_owned(), Kind::Projection)));
        assert_eq!(split("a/v+2"), Some(("a/v+2".to_owned(), Kind::Projection)));
        assert_eq!(split("a/vx"), Some(("a/vx".to_owned(), Kind::Projection)));
        assert_eq!(location_state(Some(&2), 2), "live");
        assert_eq!(location_state(Some(&2), 1), "old");
        assert_eq!(location_state(Some(&2), 3), "building");
        assert_eq!(location_state(None, 1), "building");
    }
}
