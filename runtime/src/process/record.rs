//! A process manager instance as its stream records it: one event per step, folded back into
//! its state, what it has handled, its pending deadlines and the step whose commands are still
//! to be sent.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::manager::ProcessManager;
use crate::core::error::HandlerError;
use crate::core::metadata::Metadata;
use crate::core::store::RecordedEvent;

/// The version of the step record's shape, stored as the step event's version.
pub(crate) const STEP_VERSION: u32 = 1;

/// One step: what it reacted to, the state after it, and what it decided.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StepRecord {
    pub(crate) input: Input,
    pub(crate) state: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) commands: Vec<SentCommand>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) scheduled: Vec<ScheduledRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) cancelled: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) finished: bool,
}

/// What a step reacted to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Input {
    /// An event of the log.
    Event {
        event_id: Uuid,
        event_type: String,
        stream_id: String,
        stream_version: u64,
    },
    /// What became of the commands of the step that reacted to `answers` (that step's input id).
    Outcomes {
        answers: Uuid,
        outcomes: Vec<OutcomeRecord>,
    },
    /// A deadline that came due.
    Deadline { deadline_id: Uuid },
}

impl Input {
    /// The id that identifies the input among everything the instance reacts to, and that the
    /// ids of the step's event, commands and deadlines are derived from.
    pub(crate) fn id(&self) -> Uuid {
        match self {
            Self::Event { event_id, .. } => *event_id,
            Self::Outcomes { answers, .. } => Uuid::new_v5(answers, b"outcomes"),
            Self::Deadline { deadline_id } => *deadline_id,
        }
    }
}

/// A command a step sent, as recorded before it is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SentCommand {
    pub(crate) command_id: Uuid,
    pub(crate) command: String,
    pub(crate) payload: Value,
}

/// What became of one sent command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutcomeRecord {
    pub(crate) command_id: Uuid,
    pub(crate) command: String,
    /// `accepted` or `rejected`.
    pub(crate) outcome: String,
    /// The receipt (`stream@version`) or the rejection's message.
    pub(crate) detail: String,
    /// Whether a `#[rejected]` handler took the rejection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) handled: bool,
}

/// A deadline a step set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScheduledRecord {
    pub(crate) deadline_id: Uuid,
    pub(crate) due_at: DateTime<Utc>,
    pub(crate) deadline: Value,
}

/// The step whose commands have not been answered yet: the last one, when it sent any.
#[derive(Debug, Clone)]
pub(crate) struct OpenStep {
    pub(crate) input_id: Uuid,
    pub(crate) commands: Vec<SentCommand>,
    pub(crate) metadata: Metadata,
}

/// One instance, folded from its stream.
#[derive(Debug, Clone)]
pub(crate) struct Instance<P: ProcessManager> {
    pub(crate) stream_id: String,
    pub(crate) version: u64,
    pub(crate) state: P,
    pub(crate) handled: HashSet<Uuid>,
    pub(crate) pending: BTreeMap<Uuid, (DateTime<Utc>, P::Deadline)>,
    pub(crate) finished: bool,
    pub(crate) open: Option<OpenStep>,
    /// The metadata of its newest step: the request it carries on.
    pub(crate) metadata: Option<Metadata>,
}

impl<P: ProcessManager> Instance<P> {
    /// An instance that has taken no step.
    pub(crate) fn new(stream_id: String) -> Self {
        Self {
            stream_id,
            version: 0,
            state: P::default(),
            handled: HashSet::new(),
            pending: BTreeMap::new(),
            finished: false,
            open: None,
            metadata: None,
        }
    }

    /// The instance of `stream_id` from its recorded steps.
    pub(crate) fn fold(stream_id: String, events: &[RecordedEvent]) -> Result<Self, HandlerError> {
        let mut instance = Self::new(stream_id);
        for event in events {
            instance.apply(event)?;
        }
        Ok(instance)
    }

    /// Takes one recorded step into account.
    pub(crate) fn apply(&mut self, event: &RecordedEvent) -> Result<(), HandlerError> {
        let record = read_step(event)?;
        self.take(record, event.stream_version, &event.metadata)
    }

    /// Takes `record`, the step at `version` with `metadata`, into account: as read back, or as
    /// just appended.
    pub(crate) fn take(
        &mut self,
        record: StepRecord,
        version: u64,
        metadata: &Metadata,
    ) -> Result<(), HandlerError> {
        let stream_id = &self.stream_id;
        self.state = serde_json::from_value(record.state.clone()).map_err(|error| {
            HandlerError::new(format!(
                "the state in step {version} of `{stream_id}` does not read as `{}`: {error}",
                std::any::type_name::<P>()
            ))
        })?;
        self.handled.insert(record.input.id());
        let finished = apply_deadlines(&record, &mut self.pending, |scheduled| {
            let deadline = serde_json::from_value(scheduled.deadline.clone()).map_err(|error| {
                HandlerError::new(format!(
                    "a deadline in step {version} of `{stream_id}` does not read: {error}"
                ))
            })?;
            Ok((scheduled.due_at, deadline))
        })?;
        self.finished |= finished;
        if self.finished {
            self.pending.clear();
        }
        self.open = (!record.commands.is_empty()).then(|| OpenStep {
            input_id: record.input.id(),
            commands: record.commands,
            metadata: metadata.clone(),
        });
        self.metadata = Some(metadata.clone());
        self.version = version;
        Ok(())
    }
}

/// The step an event of an instance's stream records.
pub(crate) fn read_step(event: &RecordedEvent) -> Result<StepRecord, HandlerError> {
    serde_json::from_str(event.payload.get()).map_err(|error| {
        HandlerError::new(format!(
            "step {} of `{}` is not a process manager's step record: {error}",
            event.stream_version, event.stream_id
        ))
    })
}

/// The deadlines a recorded step leaves pending, applied to `pending` (a stream's, by id, each
/// with what `value` makes of its record); `true` when the step finished the process.
pub(crate) fn apply_deadlines<T, E>(
    record: &StepRecord,
    pending: &mut BTreeMap<Uuid, T>,
    value: impl Fn(&ScheduledRecord) -> Result<T, E>,
) -> Result<bool, E> {
    if let Input::Deadline { deadline_id } = &record.input {
        pending.remove(deadline_id);
    }
    for scheduled in &record.scheduled {
        pending.insert(scheduled.deadline_id, value(scheduled)?);
    }
    for cancelled in &record.cancelled {
        pending.remove(cancelled);
    }
    Ok(record.finished)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::value::RawValue;

    use super::*;
    use crate::core::metadata::CommandContext;

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    struct Counter {
        seen: u32,
    }

    fn step(version: u64, payload: &str) -> RecordedEvent {
        RecordedEvent {
            position: version,
            transaction_id: 0,
            tenant: String::new(),
            stream_id: "counter-1".to_owned(),
            stream_version: version,
            event_id: Uuid::new_v4(),
            event_type: "counter.step".to_owned(),
            event_version: STEP_VERSION,
            payload: RawValue::from_string(payload.to_owned()).unwrap(),
            metadata: CommandContext::new().into_metadata(),
            recorded_at: Utc::now(),
        }
    }

    /// The state, pending deadlines and end a fold of steps leaves.
    type Folded = (Counter, BTreeMap<Uuid, DateTime<Utc>>, bool);

    /// Folds `Counter`'s steps without its process manager: the record's parts only.
    fn fold(events: &[RecordedEvent]) -> Result<Folded, HandlerError> {
        let mut state = Counter::default();
        let mut pending = BTreeMap::new();
        let mut finished = false;
        for event in events {
            let record = read_step(event)?;
            state = serde_json::from_value(record.state.clone()).map_err(HandlerError::new)?;
            finished |= apply_deadlines(&record, &mut pending, |s| Ok::<_, HandlerError>(s.due_at))?;
        }
        Ok((state, pending, finished))
    }

    #[test]
    fn deadlines_are_set_fired_and_cancelled_by_the_steps_that_record_them() {
        let (set, cancelled) = (Uuid::new_v4(), Uuid::new_v4());
        let at = "2026-12-04T00:15:00Z";
        let events = [
            step(
                1,
                &format!(
                    r#"{{"input":{{"kind":"event","event_id":"{}","event_type":"e","stream_id":"s-1","stream_version":1}},
                       "state":{{"seen":1}},
                       "scheduled":[{{"deadline_id":"{set}","due_at":"{at}","deadline":null}},
                                    {{"deadline_id":"{cancelled}","due_at":"{at}","deadline":null}}]}}"#,
                    Uuid::new_v4()
                ),
            ),
            step(
                2,
                &format!(
                    r#"{{"input":{{"kind":"deadline","deadline_id":"{set}"}},"state":{{"seen":2}},"cancelled":["{cancelled}"]}}"#
                ),
            ),
        ];
        let (state, pending, finished) = fold(&events).unwrap();
        assert_eq!(state, Counter { seen: 2 });
        assert!(pending.is_empty(), "{pending:?}");
        assert!(!finished);
    }

    #[test]
    fn a_step_that_is_not_a_step_record_is_a_clear_error() {
        for payload in [
            r#"{"state":{}}"#,
            r#"{"input":{"kind":"telegram"},"state":{}}"#,
            "[1,2]",
        ] {
            let error = read_step(&step(3, payload)).unwrap_err().to_string();
            assert!(
                error.contains("step 3 of `counter-1` is not a process manager's step record"),
                "{error}"
            );
        }
    }
}
