//! `chronicle streams show <stream> [--at-version N | --as-of TIME]`: one stream's events.

use chronicle::{check_stream_id, Metadata, RecordedEvent};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::args::Output;
use crate::connect::Stores;
use crate::error::CliError;
use crate::output;

/// How much of the stream to show.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Until {
    Now,
    Version(u64),
    Time(DateTime<Utc>),
}

impl Until {
    pub(crate) fn parse(at_version: Option<u64>, as_of: Option<&str>) -> Result<Self, CliError> {
        match (at_version, as_of) {
            (Some(version), _) => Ok(Self::Version(version)),
            (None, Some(text)) => crate::args::rfc3339(text).map(Self::Time),
            (None, None) => Ok(Self::Now),
        }
    }

    fn includes(self, event: &RecordedEvent) -> bool {
        match self {
            Self::Now => true,
            Self::Version(version) => event.stream_version <= version,
            Self::Time(at) => event.recorded_at <= at,
        }
    }
}

/// An event as the tool prints it.
#[derive(Serialize)]
pub(crate) struct EventView<'e> {
    pub(crate) position: u64,
    /// The stream's tenant; left out when there is none.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(crate) tenant: &'e str,
    pub(crate) stream_id: &'e str,
    pub(crate) stream_version: u64,
    pub(crate) event_type: &'e str,
    pub(crate) event_version: u32,
    pub(crate) event_id: uuid::Uuid,
    pub(crate) recorded_at: String,
    pub(crate) payload: &'e serde_json::value::RawValue,
    pub(crate) metadata: &'e Metadata,
}

impl<'e> From<&'e RecordedEvent> for EventView<'e> {
    fn from(event: &'e RecordedEvent) -> Self {
        Self {
            position: event.position,
            tenant: &event.tenant,
            stream_id: &event.stream_id,
            stream_version: event.stream_version,
            event_type: &event.event_type,
            event_version: event.event_version,
            event_id: event.event_id,
            recorded_at: output::time(event.recorded_at),
            payload: &event.payload,
            metadata: &event.metadata,
        }
    }
}

/// A page of `streams ls` as JSON prints it.
#[derive(Serialize)]
struct Page {
    streams: Vec<StreamView>,
    /// What `--after` takes for the next page, when this one is full.
    next_after: Option<String>,
}

#[derive(Serialize)]
struct StreamView {
    stream_id: String,
    version: u64,
    last_recorded_at: String,
}

pub(crate) async fn list(
    stores: &Stores,
    aggregate: Option<&str>,
    after: &str,
    limit: usize,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    if let Some(aggregate) = aggregate {
        if !chronicle::is_valid_aggregate_name(aggregate) {
            return Err(CliError::Invalid(format!(
                "`{aggregate}` is not an aggregate name: one without `-`, as in bank.Account"
            )));
        }
    }
    let prefix = aggregate.map(|a| format!("{a}-")).unwrap_or_default();
    let streams = stores.log.list_streams(&prefix, after, limit).await?;
    let next_after = (streams.len() == limit)
        .then(|| streams.last().map(|s| s.stream_id.clone()))
        .flatten();
    let page = Page {
        streams: streams
            .into_iter()
            .map(|s| StreamView {
                stream_id: s.stream_id,
                version: s.version,
                last_recorded_at: output::time(s.last_recorded_at),
            })
            .collect(),
        next_after,
    };
    match format {
        Output::Json => output::json(out, &page),
        Output::Table => {
            if page.streams.is_empty() {
                return output::text(out, "no streams");
            }
            let mut table = output::table(["stream", "version", "last event"]);
            for s in &page.streams {
                table.add_row([
                    s.stream_id.clone(),
                    s.version.to_string(),
                    s.last_recorded_at.clone(),
                ]);
            }
            output::text(out, table)?;
            match &page.next_after {
                Some(next) => output::text(out, format!("more: --after '{next}'")),
                None => Ok(()),
            }
        }
    }
}

pub(crate) async fn show(
    stores: &Stores,
    stream: &str,
    until: Until,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    check_stream_id(stream)?;
    let events = stores.log.read_stream(stream).await?;
    if events.is_empty() {
        return Err(CliError::NoSuchStream {
            stream: stream.to_owned(),
        });
    }
    let shown: Vec<EventView<'_>> = events
        .iter()
        .filter(|e| until.includes(e))
        .map(EventView::from)
        .collect();
    match format {
        Output::Json => output::json(out, &shown),
        Output::Table => {
            let mut table = output::table([
                "version",
                "position",
                "event",
                "recorded at",
                "actor",
                "command",
                "payload",
            ]);
            for event in &shown {
                table.add_row([
                    event.stream_version.to_string(),
                    event.position.to_string(),
                    format!("{} v{}", event.event_type, event.event_version),
                    event.recorded_at.clone(),
                    event.metadata.actor.clone().unwrap_or_else(|| "-".to_owned()),
                    event.metadata.command_id.to_string(),
                    event.payload.get().to_owned(),
                ]);
            }
            output::text(
                out,
                format!(
                    "{stream}: {} of {} events{}",
                    shown.len(),
                    events.len(),
                    match until {
                        Until::Now => String::new(),
                        Until::Version(version) => format!(", up to version {version}"),
                        Until::Time(at) => format!(", as of {}", output::time(at)),
                    }
                ),
            )?;
            output::text(out, table)
        }
    }
}
