//! `chronicle events tail [--from P] [--type T]... [--stream S] [--correlation C] [--follow]`:
//! the log's events in commit order (the order subscribers read them, so that `--follow` never
//! skips an event that commits after a later position), one per line.

use std::time::Duration;

use chronicle::{check_stream_id, Checkpoint, RecordedEvent, Tenant};
use uuid::Uuid;

use super::streams::EventView;
use crate::args::Output;
use crate::connect::Stores;
use crate::error::CliError;
use crate::output;

/// Events per read.
const PAGE: usize = 500;
/// How often `--follow` looks for new events.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// Which events to print.
pub(crate) struct Filter {
    event_types: Vec<String>,
    stream: Option<String>,
    correlation: Option<Uuid>,
}

impl Filter {
    pub(crate) fn parse(
        event_types: &[String],
        stream: Option<&str>,
        correlation: Option<&str>,
    ) -> Result<Self, CliError> {
        if let Some(stream) = stream {
            check_stream_id(stream)?;
        }
        let correlation = correlation
            .map(|text| {
                Uuid::parse_str(text)
                    .map_err(|_| CliError::Invalid(format!("`{text}` is not a correlation id: give a UUID")))
            })
            .transpose()?;
        Ok(Self {
            event_types: event_types.to_vec(),
            stream: stream.map(str::to_owned),
            correlation,
        })
    }

    fn keeps(&self, event: &RecordedEvent, tenant: &Tenant) -> bool {
        (tenant.is_none() || event.tenant == tenant.as_str())
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
            && self.stream.as_ref().is_none_or(|s| *s == event.stream_id)
            && self
                .correlation
                .is_none_or(|c| c == event.metadata.correlation_id)
    }
}

pub(crate) async fn tail(
    stores: &Stores,
    from: u64,
    filter: &Filter,
    follow: bool,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    let mut after = if from == 0 {
        Checkpoint::START
    } else {
        stores
            .log
            .checkpoint_of(from)
            .await?
            .ok_or_else(|| CliError::Invalid(format!("no event at position {from} to start after")))?
    };
    loop {
        let batch = stores.log.read_batch(after, PAGE).await?;
        // The subscription order is every tenant's; a tail of one tenant shows its events.
        for event in batch
            .events
            .iter()
            .filter(|e| filter.keeps(e, stores.log.tenant()))
        {
            print(event, format, out)?;
        }
        let mut next = batch.horizon;
        if let Some(unreadable) = &batch.unreadable {
            // Said and passed: a tail shows what the log holds, readable or not.
            let line = format!(
                "unreadable event at position {} (stream `{}` version {}, type `{}`): {}",
                unreadable.checkpoint.position,
                unreadable.stream_id,
                unreadable.stream_version,
                unreadable.event_type,
                unreadable.error
            );
            match format {
                Output::Json => {
                    output::json_line(out, &serde_json::json!({ "unreadable": line }))?;
                }
                Output::Table => output::text(out, line)?,
            }
            next = unreadable.checkpoint;
        }
        out.flush()?;
        let progressed = next > after;
        after = next;
        if batch.events.len() < PAGE && batch.unreadable.is_none() {
            if !follow {
                return Ok(());
            }
            if !progressed {
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
        }
    }
}

fn print(event: &RecordedEvent, format: Output, out: &mut impl std::io::Write) -> Result<(), CliError> {
    match format {
        Output::Json => output::json_line(out, &EventView::from(event)),
        Output::Table => output::text(
            out,
            format!(
                "#{} {}{} v{} {} v{} {} {}",
                event.position,
                tenant_prefix(&event.tenant),
                event.stream_id,
                event.stream_version,
                event.event_type,
                event.event_version,
                output::time(event.recorded_at),
                event.payload.get()
            ),
        ),
    }
}

/// How a line names the tenant of a stream: `acme/` before the stream id, nothing for none.
fn tenant_prefix(tenant: &str) -> String {
    if tenant.is_empty() {
        String::new()
    } else {
        format!("{tenant}/")
    }
}
