//! What is recorded about every event besides its payload: who, why and in answer to what.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The metadata stored with every event (the event id and recorded time are columns of their own,
/// see [`RecordedEvent`](crate::RecordedEvent)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The command that produced the event; re-submitting a command with this id appends nothing.
    pub command_id: Uuid,
    /// The request or conversation the event belongs to; shared by everything one request caused.
    pub correlation_id: Uuid,
    /// The message that directly caused the event (the command, or an upstream event).
    pub causation_id: Uuid,
    /// Who asked for the change, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// User-supplied key/values (request ids, client addresses, reasons, ...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// What the caller says about a command: its id, correlation, causation, actor and extra keys.
///
/// Every field is optional: a fresh command id is generated, and correlation and causation default
/// to the command id. An id left unset is generated anew for each command the context is used
/// for, so a context cloned for several commands gives each its own command id (set
/// [`command_id`](Self::command_id) to make a re-submission recognisable).
#[derive(Debug, Clone, Default)]
pub struct CommandContext {
    command_id: Option<Uuid>,
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    actor: Option<String>,
    extra: Map<String, Value>,
}

impl CommandContext {
    /// An empty context: every id is generated.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the command id; a command re-submitted with the same id is executed at most once.
    pub fn command_id(mut self, id: Uuid) -> Self {
        self.command_id = Some(id);
        self
    }

    /// Sets the correlation id shared by everything one request caused.
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// Sets the id of the message that caused this command.
    pub fn causation_id(mut self, id: Uuid) -> Self {
        self.causation_id = Some(id);
        self
    }

    /// Records who asked for the change.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Adds a user-supplied key/value to every event's metadata.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The context of the `index`-th command that `reactor` (a process manager's or a
    /// reacting projection's name) sends in reaction to the event `event_id` with `metadata`:
    /// the same request (its correlation id and actor), caused by that event, and a command id
    /// derived from the three (a UUID v5), so that reacting to the event again — after a crash,
    /// in a replay — re-submits the same command, which is then executed at most once.
    pub fn reacting_to(event_id: Uuid, metadata: &Metadata, reactor: &str, index: u32) -> Self {
        let name = format!("{reactor}\u{1f}{index}");
        Self {
            command_id: Some(Uuid::new_v5(&event_id, name.as_bytes())),
            correlation_id: Some(metadata.correlation_id),
            causation_id: Some(event_id),
            actor: metadata.actor.clone(),
            extra: Map::new(),
        }
    }

    /// Resolves the defaults into the metadata stored with each event of the command (an id left
    /// unset is generated here).
    pub fn into_metadata(self) -> Metadata {
        let command_id = self.command_id.unwrap_or_else(Uuid::new_v4);
        Metadata {
            command_id,
            correlation_id: self.correlation_id.unwrap_or(command_id),
            causation_id: self.causation_id.unwrap_or(command_id),
            actor: self.actor,
            extra: self.extra,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> Metadata {
        CommandContext::new().actor("ada").into_metadata()
    }

    #[test]
    fn a_reaction_is_the_same_command_each_time_and_follows_its_event() {
        let (event, upstream) = (Uuid::new_v4(), metadata());
        let first = CommandContext::reacting_to(event, &upstream, "billing", 0).into_metadata();
        let again = CommandContext::reacting_to(event, &upstream, "billing", 0).into_metadata();
        assert_eq!(first, again, "reacting again gives the same command id");
        assert_eq!(first.correlation_id, upstream.correlation_id);
        assert_eq!(first.causation_id, event);
        assert_eq!(first.actor.as_deref(), Some("ada"));
        // Another command of the reaction, another reactor, or another event: another command.
        let ids = [
            CommandContext::reacting_to(event, &upstream, "billing", 1),
            CommandContext::reacting_to(event, &upstream, "shipping", 0),
            CommandContext::reacting_to(Uuid::new_v4(), &upstream, "billing", 0),
            // The separator keeps ("a", 10) and ("a1", 0) apart.
            CommandContext::reacting_to(event, &upstream, "billing1", 0),
        ]
        .map(|context| context.into_metadata().command_id);
        assert!(ids.iter().all(|id| *id != first.command_id), "{ids:?}");
        let (ten, one_zero) = (
            CommandContext::reacting_to(event, &upstream, "a", 10).into_metadata(),
            CommandContext::reacting_to(event, &upstream, "a1", 0).into_metadata(),
        );
        assert_ne!(ten.command_id, one_zero.command_id);
    }
}
