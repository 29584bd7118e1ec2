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

    /// Resolves the defaults into the metadata stored with each event of the command.
    pub(crate) fn into_metadata(self) -> Metadata {
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
