//! `chronicle trace <correlation-id>`: every event of one business transaction, in log order,
//! grouped by the command that recorded it, each command under the one whose event (or which
//! command) caused it.

use chronicle::RecordedEvent;
use serde::Serialize;
use uuid::Uuid;

use super::streams::EventView;
use crate::args::Output;
use crate::connect::Stores;
use crate::error::CliError;
use crate::output;

/// One command of the trace and its events.
#[derive(Serialize)]
struct CommandNode<'e> {
    command_id: Uuid,
    actor: Option<&'e str>,
    /// The command of the trace that caused this one (its event, or itself), if any: `None` for
    /// what the trace starts from.
    caused_by_command: Option<Uuid>,
    /// The event that caused it, when that is an event of the trace.
    caused_by_event: Option<Uuid>,
    events: Vec<EventView<'e>>,
}

/// The trace as JSON prints it.
#[derive(Serialize)]
struct Trace<'e> {
    correlation_id: Uuid,
    commands: Vec<CommandNode<'e>>,
}

pub(crate) async fn run(
    stores: &Stores,
    correlation_id: &str,
    format: Output,
    out: &mut impl std::io::Write,
) -> Result<(), CliError> {
    let correlation_id = Uuid::parse_str(correlation_id)
        .map_err(|_| CliError::Invalid(format!("`{correlation_id}` is not a correlation id: give a UUID")))?;
    let events = stores.log.read_by_correlation(correlation_id).await?;
    if events.is_empty() {
        return Err(CliError::NoSuchCorrelation { correlation_id });
    }
    let trace = Trace {
        correlation_id,
        commands: commands(&events),
    };
    match format {
        Output::Json => output::json(out, &trace),
        Output::Table => {
            output::text(
                out,
                format!(
                    "correlation {correlation_id}: {} events of {} commands",
                    events.len(),
                    trace.commands.len()
                ),
            )?;
            let mut text = String::new();
            let mut shown = vec![false; trace.commands.len()];
            for (index, root) in trace.commands.iter().enumerate() {
                if root.caused_by_command.is_none() {
                    render(&trace.commands, index, 0, &mut shown, &mut text);
                }
            }
            // Commands whose causes point at each other (which Chronicle does not write) reach
            // no root: shown at the top level rather than lost.
            for index in 0..trace.commands.len() {
                if !shown[index] {
                    render(&trace.commands, index, 0, &mut shown, &mut text);
                }
            }
            output::text(out, text.trim_end())
        }
    }
}

/// The events grouped by command, in the order each command's first event was recorded, with
/// what caused each command.
fn commands(events: &[RecordedEvent]) -> Vec<CommandNode<'_>> {
    let mut nodes: Vec<CommandNode<'_>> = Vec::new();
    for event in events {
        let command_id = event.metadata.command_id;
        match nodes.iter_mut().find(|n| n.command_id == command_id) {
            Some(node) => node.events.push(EventView::from(event)),
            None => nodes.push(CommandNode {
                command_id,
                actor: event.metadata.actor.as_deref(),
                caused_by_command: None,
                caused_by_event: None,
                events: vec![EventView::from(event)],
            }),
        }
    }
    for index in 0..nodes.len() {
        let causation = events
            .iter()
            .find(|e| e.metadata.command_id == nodes[index].command_id)
            .map(|e| e.metadata.causation_id);
        let Some(causation) = causation else { continue };
        let by_event = events.iter().find(|e| e.event_id == causation);
        let parent = match by_event {
            Some(event) => Some(event.metadata.command_id),
            None => nodes
                .iter()
                .find(|n| n.command_id == causation)
                .map(|n| n.command_id),
        };
        // A command that names itself as its cause started the transaction.
        if parent != Some(nodes[index].command_id) {
            nodes[index].caused_by_command = parent;
            nodes[index].caused_by_event = by_event.map(|e| e.event_id);
        }
    }
    nodes
}

/// Appends command `index` and, indented under it, the commands it caused; each once.
fn render(nodes: &[CommandNode<'_>], index: usize, depth: usize, shown: &mut [bool], text: &mut String) {
    if shown[index] {
        return;
    }
    shown[index] = true;
    let node = &nodes[index];
    let indent = "  ".repeat(depth);
    let cause = match node.caused_by_event {
        Some(event) => format!(", caused by event {event}"),
        None => String::new(),
    };
    let actor = node.actor.map(|a| format!(" by {a}")).unwrap_or_default();
    text.push_str(&format!("{indent}command {}{actor}{cause}\n", node.command_id));
    for event in &node.events {
        text.push_str(&format!(
            "{indent}  #{} {} v{} {} {} {}\n",
            event.position,
            event.stream_id,
            event.stream_version,
            event.event_type,
            event.recorded_at,
            event.payload.get()
        ));
    }
    for child in 0..nodes.len() {
        if nodes[child].caused_by_command == Some(node.command_id) {
            render(nodes, child, depth + 1, shown, text);
        }
    }
}
