//! Tables that fit the terminal, and JSON.

use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

use crate::error::CliError;

/// The terminal's width: `COLUMNS` when the shell exports it, 120 otherwise.
fn width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|columns| columns.parse().ok())
        .filter(|&columns| columns >= 40)
        .unwrap_or(120)
}

/// A table with `headers`, its columns wrapped to fit the terminal.
pub(crate) fn table<const N: usize>(headers: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_BORDERS_ONLY_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width())
        .set_header(headers);
    table
}

/// Writes `value` as one JSON document and a new line.
pub(crate) fn json(out: &mut impl std::io::Write, value: &impl Serialize) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Writes a table (or any text) and a new line.
pub(crate) fn text(out: &mut impl std::io::Write, text: impl std::fmt::Display) -> Result<(), CliError> {
    writeln!(out, "{text}")?;
    Ok(())
}

/// A time as operators read it: RFC 3339 to the millisecond, UTC.
pub(crate) fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Writes `value` as one line of JSON (JSON Lines, for streams of records).
pub(crate) fn json_line(out: &mut impl std::io::Write, value: &impl Serialize) -> Result<(), CliError> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}
