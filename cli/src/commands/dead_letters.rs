//! `chronicle dead-letters ls [--projection P]`, `chronicle dead-letters show <projection>
//! <position>`, `chronicle dead-letters retry <projection> <position>` and `chronicle
//! dead-letters skip <projection> <position>`: the events projections could not apply, recorded
//! by their current version.

use chronicle::{DeadLetter, DeadLetters, ReadStore, ReadTransaction as _, SqlReadStore};
use serde::Serialize;

use super::streams::EventView;
use crate::args::Output;
use crate::connect::Stores;
use crate::error::CliError;
use crate::output;

/// The dead letters of every checkpoint row (or of `only`), by its current version.
async fn letters(stores: &Stores, only: Option<&str>) -> Result<Vec<DeadLetter>, CliError> {
    let mut letters = Vec::new();
    let mut found = false;
    for (name, row) in stores.checkpoints().await? {
        if only.is_some_and(|only| only != name) {
            continue;
        }
        found = true;
        letters.extend(stores.read.dead_letters(&name, row.version).await?);
    }
    let letters = stores.log.letters_of_tenant(letters).await?;
    match only {
        Some(projection) if !found => Err(CliError::Invalid(format!(
            "no projection `{projection}` has a checkpoint here (`chronicle status` lists them)"
        ))),
        _ => Ok(letters),
    }
}

/// The dead letter `projection` recorded for the event at `position`.
async fn letter(stores: &Stores, projection: &str, position: u64) -> Result<DeadLetter, CliError> {
    letters(stores, Some(projection))
        .await?
        .into_iter()
        .find(|l| l.position == position)
        .ok_or_else(|| {
            CliError::Invalid(format!(
                "`{projection}` has no dead letter at position {position}"
            ))
        })
}

/// A dead letter as JSON prints it.
#[derive(Serialize)]
struct LetterView<'l> {
    projection: &'l str,
    version: u32,
    position: u64,
    stream_id: &'l str,
    stream_version: u64,
    event_type: &'l str,
    event_id: Option<uuid::Uuid>,
    error: &'l str,
    recorded_at: String,
    retry_requested_at: Option<String>,
}

impl<'l> From<&'l DeadLetter> for LetterView<'l> {
    fn from(letter: &'l DeadLetter) -> Self {
        Self {
            projection: &letter.projection,
            version: letter.version,
            position: letter.position,
            stream_id: &letter.stream_id,
            stream_version: letter.stream_version,
            event_type: &letter.event_type,
            event_id: letter.event_id,
            error: &letter.error,
            recorded_at: output::time(letter.recorded_at),
            retry_requested_at: letter.retry_requested_at.map(output::time),
        }
    }
}

pub(crate) async fn list(
    stores: &Stores,
    projection: Option<&str>,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    let letters = letters(stores, projection).await?;
    match format {
        Output::Json => output::json(out, &letters.iter().map(LetterView::from).collect::<Vec<_>>()),
        Output::Table => {
            if letters.is_empty() {
                return output::text(out, "no dead letters");
            }
            let mut table = output::table([
                "projection",
                "position",
                "stream",
                "event",
                "recorded at",
                "error",
            ]);
            for letter in &letters {
                table.add_row([
                    letter.projection.clone(),
                    letter.position.to_string(),
                    format!("{} v{}", letter.stream_id, letter.stream_version),
                    letter.event_type.clone(),
                    match letter.retry_requested_at {
                        Some(at) => format!(
                            "{} (retry asked {})",
                            output::time(letter.recorded_at),
                            output::time(at)
                        ),
                        None => output::time(letter.recorded_at),
                    },
                    letter.error.clone(),
                ]);
            }
            output::text(out, table)
        }
    }
}

pub(crate) async fn show(
    stores: &Stores,
    projection: &str,
    position: u64,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    let letter = letter(stores, projection, position).await?;
    let event = stores.log.event_at(position).await?;
    match format {
        Output::Json => output::json(
            out,
            &serde_json::json!({
                "dead_letter": LetterView::from(&letter),
                "event": event.as_ref().map(EventView::from),
            }),
        ),
        Output::Table => {
            output::text(
                out,
                format!(
                    "{projection} (version {}) could not apply the event at position {position}:\n  {}",
                    letter.version, letter.error
                ),
            )?;
            match &event {
                Some(event) => output::text(
                    out,
                    format!(
                        "event: {} v{} of `{}` version {}, recorded {}\nmetadata: {}\npayload: {}",
                        event.event_type,
                        event.event_version,
                        event.stream_id,
                        event.stream_version,
                        output::time(event.recorded_at),
                        serde_json::to_string(&event.metadata)?,
                        event.payload.get()
                    ),
                ),
                None => output::text(out, "event: not in the log any more (forgotten?)"),
            }
        }
    }
}

pub(crate) async fn retry(
    stores: &Stores,
    projection: &str,
    position: u64,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    let letter = letter(stores, projection, position).await?;
    if !stores
        .read
        .request_retry(projection, letter.version, position)
        .await?
    {
        // Deleted between the two statements: applied by a rebuild, or skipped.
        return Err(CliError::Invalid(format!(
            "`{projection}` has no dead letter at position {position} any more"
        )));
    }
    match format {
        Output::Json => output::json(
            out,
            &serde_json::json!({ "retry_requested": { "projection": projection, "position": position } }),
        ),
        Output::Table => output::text(
            out,
            format!(
                "retry requested: the active runner of {projection} applies the event at position {position} \
                 again when it next renews its claim; `chronicle dead-letters ls` shows the outcome"
            ),
        ),
    }
}

pub(crate) async fn skip(
    stores: &Stores,
    projection: &str,
    position: u64,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    letter(stores, projection, position).await?;
    let mut session = stores.read.connect().await?;
    let deleted = delete(&stores.read, &mut session, projection, position).await;
    SqlReadStore::close(session).await;
    deleted?;
    match format {
        Output::Json => output::json(
            out,
            &serde_json::json!({ "skipped": { "projection": projection, "position": position } }),
        ),
        Output::Table => output::text(
            out,
            format!("skipped: {projection} stays past the event at position {position} without applying it"),
        ),
    }
}

/// Deletes the dead letter in a transaction of its own.
async fn delete(
    read: &SqlReadStore,
    session: &mut <SqlReadStore as ReadStore>::Session,
    projection: &str,
    position: u64,
) -> Result<(), CliError> {
    let mut transaction = SqlReadStore::begin(session).await?;
    read.delete_dead_letters(
        transaction.connection(),
        projection,
        DeadLetters::AtPositions(&[position]),
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}
