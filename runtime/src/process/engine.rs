//! Taking a process manager's steps: load the instance from its stream, finish the step whose
//! commands are unanswered, decide on the new input, record the step (appended at the version
//! loaded, so that two runners never both record one), then send its commands and record what
//! became of them.
//!
//! Every id is derived from what a step reacts to: the step's event id (so recording a step twice
//! collides), its commands' ids (so sending them again after a crash executes them once), and its
//! deadlines' ids. A crash anywhere leaves either an unrecorded step (decided again, the same
//! way, from the same input) or a recorded one whose commands are sent again on the next load.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::manager::{Decided, Process, ProcessCommand, ProcessManager, Sent};
use super::record::{
    apply_deadlines, read_step, Input, Instance, OpenStep, OutcomeRecord, ScheduledRecord, SentCommand,
    StepRecord, STEP_VERSION,
};
use super::schedule::{Due, Schedule, StreamKey};
use crate::core::error::{HandlerError, StoreError};
use crate::core::metadata::{CommandContext, Metadata};
use crate::core::source::{Checkpoint, EventSource};
use crate::core::store::{NewEvent, RecordedEvent};
use crate::core::tenant::Tenant;
use crate::write::chronicle::Chronicle;

/// How often a step is decided again after another writer recorded one on its instance first.
const ATTEMPTS: u32 = 10;
/// Step events read per batch when the schedule is rebuilt.
const REBUILD_BATCH: usize = 500;

/// Where a runner can be made to crash, in tests of what a crash leaves behind.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrashPoint {
    /// A step is recorded; none of its commands is sent yet.
    AfterStep,
    /// The `index`-th command of a step is about to be sent.
    BeforeCommand(usize),
    /// The `index`-th command of a step was executed; its outcome is not recorded.
    AfterCommand(usize),
}

/// The test seam: called at each [`CrashPoint`]; `true` crashes the runner there.
pub(crate) type CrashHook = Arc<dyn Fn(&CrashPoint) -> bool + Send + Sync>;

/// The process manager `P` on the store of `chronicle`.
pub(crate) struct Engine<P, S> {
    chronicle: Chronicle<S>,
    schedule: Mutex<Schedule>,
    crash: Option<CrashHook>,
    manager: PhantomData<fn() -> P>,
}

impl<P, S> fmt::Debug for Engine<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl<P: ProcessManager, S: EventSource> Engine<P, S> {
    pub(crate) fn new(chronicle: Chronicle<S>) -> Self {
        Self {
            chronicle,
            schedule: Mutex::new(Schedule::new()),
            crash: None,
            manager: PhantomData,
        }
    }

    pub(crate) fn crash_at(&mut self, hook: CrashHook) {
        self.crash = Some(hook);
    }

    /// The schedule, whatever a panicking holder left in it (every change is one whole call).
    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        self.schedule
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks for the schedule to be rebuilt before deadlines are fired again.
    pub(crate) fn schedule_is_stale(&self) {
        self.schedule().stale = true;
    }

    /// Reacts to one event of the log.
    pub(crate) async fn on_event(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        let Some(key) = P::correlate(event)? else {
            return Ok(());
        };
        let stream_id = instance_stream(P::NAME, &key)?;
        let input = Input::Event {
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
        };
        let tenant = Tenant::of_stored(&event.tenant);
        self.step(
            &tenant,
            &stream_id,
            input,
            Some(&event.metadata),
            |state, process, _| state.on_event(event, process).map(|()| true),
        )
        .await
    }

    /// Fires the deadlines due now; how long until the next one.
    pub(crate) async fn fire_due(&self) -> Result<Option<Duration>, HandlerError> {
        if self.schedule().stale {
            self.rebuild_schedule().await?;
        }
        loop {
            let due = self.schedule().first_due(Utc::now());
            let Some(Due {
                deadline_id,
                stream: (tenant, stream_id),
                ..
            }) = due
            else {
                break;
            };
            let tenant = Tenant::of_stored(&tenant);
            let input = Input::Deadline { deadline_id };
            self.step(&tenant, &stream_id, input, None, |state, process, instance| {
                Ok(match instance.pending.get(&deadline_id) {
                    Some((_, deadline)) => {
                        state.on_deadline(deadline, process);
                        true
                    }
                    None => false,
                })
            })
            .await?;
            // The step's load set the stream's pending deadlines: this one is gone either way,
            // unless the stream could not be read, which the error above reported.
        }
        let next = self.schedule().next_at();
        Ok(next.map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)))
    }

    /// Reads every step event of the log, keeping the deadlines still pending.
    async fn rebuild_schedule(&self) -> Result<(), HandlerError> {
        let source = self.chronicle.store();
        let mut pending: BTreeMap<StreamKey, BTreeMap<Uuid, chrono::DateTime<Utc>>> = BTreeMap::new();
        let mut after = Checkpoint::START;
        loop {
            let batch = source
                .read_batch(after, &[P::STEP_EVENT], REBUILD_BATCH)
                .await
                .map_err(HandlerError::new)?;
            if let Some(unreadable) = &batch.unreadable {
                return Err(HandlerError::new(format!(
                    "step {} of `{}` cannot be read: {}",
                    unreadable.stream_version, unreadable.stream_id, unreadable.error
                )));
            }
            for event in &batch.events {
                let record = read_step(event)?;
                let stream = (event.tenant.clone(), event.stream_id.clone());
                let deadlines = pending.entry(stream.clone()).or_default();
                if apply_deadlines(&record, deadlines, |s| Ok::<_, HandlerError>(s.due_at))? {
                    pending.remove(&stream);
                }
            }
            if batch.events.is_empty() && batch.horizon <= after {
                break;
            }
            let done = batch.events.len() < REBUILD_BATCH;
            after = batch.horizon;
            if done {
                break;
            }
        }
        let mut schedule = self.schedule();
        schedule.clear();
        for (stream, deadlines) in pending {
            schedule.set(stream, deadlines);
        }
        schedule.stale = false;
        tracing::debug!(
            process = P::NAME,
            pending = schedule.len(),
            "deadline schedule rebuilt"
        );
        Ok(())
    }

    /// One step of the instance `stream_id` on `input`: `decide` runs on a copy of its state
    /// (unless the input was handled already, or the process is over) and says whether the
    /// input concerns the instance at all.
    async fn step(
        &self,
        tenant: &Tenant,
        stream_id: &str,
        input: Input,
        origin: Option<&Metadata>,
        decide: impl Fn(&mut P, &mut Process<P>, &Instance<P>) -> Result<bool, HandlerError>,
    ) -> Result<(), HandlerError> {
        let chronicle = self.chronicle.for_tenant(tenant.clone());
        let input_id = input.id();
        for _ in 0..ATTEMPTS {
            let mut instance = self.load(&chronicle, stream_id).await?;
            self.drive(&chronicle, &mut instance).await?;
            if instance.finished || instance.handled.contains(&input_id) {
                return Ok(());
            }
            let mut state = instance.state.clone();
            let mut process = Process::new(Utc::now());
            if !decide(&mut state, &mut process, &instance)? {
                return Ok(());
            }
            let metadata = step_metadata(origin.or(instance.metadata.as_ref()), input_id, P::NAME);
            let record = record_step::<P>(input.clone(), &state, process.into_parts(), &instance, &metadata)?;
            match self
                .append(&chronicle, &mut instance, record, input_id, metadata)
                .await?
            {
                Recorded::Yes => {
                    self.crash_here(&CrashPoint::AfterStep);
                    return self.drive(&chronicle, &mut instance).await;
                }
                Recorded::Raced => continue,
            }
        }
        Err(HandlerError::new(format!(
            "`{stream_id}` kept moving under process manager `{}`: gave up after {ATTEMPTS} attempts",
            P::NAME
        )))
    }

    /// Sends the commands of the instance's open step and records their outcomes, as long as a
    /// step is open (a rejection handler's step may send commands of its own).
    async fn drive(&self, chronicle: &Chronicle<S>, instance: &mut Instance<P>) -> Result<(), HandlerError> {
        let mut raced = 0;
        while let Some(open) = instance.open.clone() {
            let mut state = instance.state.clone();
            let mut process = Process::new(Utc::now());
            let outcomes = self.send_all(chronicle, &open, &mut state, &mut process).await?;
            let input = Input::Outcomes {
                answers: open.input_id,
                outcomes,
            };
            let input_id = input.id();
            let metadata = step_metadata(Some(&open.metadata), input_id, P::NAME);
            let record = record_step::<P>(input, &state, process.into_parts(), instance, &metadata)?;
            if let Recorded::Raced = self
                .append(chronicle, instance, record, input_id, metadata)
                .await?
            {
                raced += 1;
                if raced >= ATTEMPTS {
                    return Err(HandlerError::new(format!(
                        "`{}` kept moving under process manager `{}`: gave up after {ATTEMPTS} attempts",
                        instance.stream_id,
                        P::NAME
                    )));
                }
                *instance = self.load(chronicle, &instance.stream_id).await?;
            }
        }
        Ok(())
    }

    /// Sends every command of `open`, in order, letting `state` handle the rejections.
    async fn send_all(
        &self,
        chronicle: &Chronicle<S>,
        open: &OpenStep,
        state: &mut P,
        process: &mut Process<P>,
    ) -> Result<Vec<OutcomeRecord>, HandlerError> {
        let mut outcomes = Vec::with_capacity(open.commands.len());
        for (index, sent) in open.commands.iter().enumerate() {
            self.crash_here(&CrashPoint::BeforeCommand(index));
            let command = P::Command::decode(&sent.command, sent.payload.clone())?;
            let context = CommandContext::new()
                .command_id(sent.command_id)
                .correlation_id(open.metadata.correlation_id)
                .causation_id(open.input_id);
            let context = match &open.metadata.actor {
                Some(actor) => context.actor(actor.clone()),
                None => context,
            };
            let sent_outcome = command.send(chronicle, context).await?;
            self.crash_here(&CrashPoint::AfterCommand(index));
            outcomes.push(match sent_outcome {
                Sent::Accepted(receipt) => OutcomeRecord {
                    command_id: sent.command_id,
                    command: sent.command.clone(),
                    outcome: "accepted".to_owned(),
                    detail: format!("{}@{}", receipt.stream_id, receipt.stream_version),
                    handled: false,
                },
                Sent::Rejected(rejection) => {
                    let reason = rejection.reason.clone();
                    let handled = rejection.react(state, process);
                    if !handled {
                        tracing::warn!(
                            process = P::NAME,
                            step = %open.input_id,
                            command = %sent.command,
                            %reason,
                            "a command the process manager sent was rejected, and no #[rejected] handler takes it"
                        );
                    }
                    OutcomeRecord {
                        command_id: sent.command_id,
                        command: sent.command.clone(),
                        outcome: "rejected".to_owned(),
                        detail: reason,
                        handled,
                    }
                }
            });
        }
        Ok(outcomes)
    }

    /// The instance of `stream_id`, its pending deadlines noted in the schedule.
    async fn load(&self, chronicle: &Chronicle<S>, stream_id: &str) -> Result<Instance<P>, HandlerError> {
        let events = chronicle
            .store()
            .read_stream(stream_id, 0)
            .await
            .map_err(HandlerError::new)?;
        let instance = Instance::fold(stream_id.to_owned(), &events)?;
        self.note_deadlines(chronicle, &instance);
        Ok(instance)
    }

    fn note_deadlines(&self, chronicle: &Chronicle<S>, instance: &Instance<P>) {
        let pending = instance.pending.iter().map(|(id, (at, _))| (*id, *at)).collect();
        let stream = (chronicle.tenant().as_str().to_owned(), instance.stream_id.clone());
        self.schedule().set(stream, pending);
    }

    /// Appends `record` as the instance's next step; on success the instance includes it.
    async fn append(
        &self,
        chronicle: &Chronicle<S>,
        instance: &mut Instance<P>,
        record: StepRecord,
        input_id: Uuid,
        metadata: Metadata,
    ) -> Result<Recorded, HandlerError> {
        let payload = serde_json::to_string(&record)
            .and_then(RawValue::from_string)
            .map_err(HandlerError::new)?;
        let event = NewEvent {
            event_id: Uuid::new_v5(&input_id, format!("{}\u{1f}step", P::NAME).as_bytes()),
            event_type: P::STEP_EVENT,
            event_version: STEP_VERSION,
            payload,
            metadata: metadata.clone(),
        };
        let appended = chronicle
            .store()
            .append(&instance.stream_id, instance.version, vec![event])
            .await;
        let receipt = match appended {
            Ok(receipt) => receipt,
            Err(StoreError::Conflict { .. } | StoreError::DuplicateEvent { .. }) => {
                return Ok(Recorded::Raced)
            }
            Err(error) => return Err(HandlerError::new(error)),
        };
        // What a later load folds from the stored event, taken from the record itself.
        instance.take(record, receipt.stream_version, &metadata)?;
        self.note_deadlines(chronicle, instance);
        Ok(Recorded::Yes)
    }

    fn crash_here(&self, point: &CrashPoint) {
        if let Some(hook) = &self.crash {
            if hook(point) {
                // Test seam only: a panic ends the runner's task where it stands, as a crash
                // would end the process.
                panic!("simulated crash of process manager `{}` at {point:?}", P::NAME);
            }
        }
    }
}

/// Whether an append recorded the step, or another writer recorded one first.
enum Recorded {
    Yes,
    Raced,
}

/// The stream of the instance with correlation key `key`, refused when the key cannot be part
/// of a stream id.
pub(crate) fn instance_stream(name: &str, key: &str) -> Result<String, HandlerError> {
    if key.is_empty() {
        return Err(HandlerError::new(format!(
            "process manager `{name}`: the event's correlation key is empty, so it names no instance"
        )));
    }
    let stream_id = format!("{name}-{key}");
    crate::core::limits::check_stream_id(&stream_id).map_err(|error| {
        HandlerError::new(format!(
            "process manager `{name}`: the correlation key {key:?} does not make a stream id: {error}"
        ))
    })?;
    Ok(stream_id)
}

/// The metadata of a step's event: the request it belongs to (`origin`: the event it reacts to,
/// or the instance's last step), caused by its input.
fn step_metadata(origin: Option<&Metadata>, input_id: Uuid, name: &str) -> Metadata {
    let context = CommandContext::new()
        .command_id(Uuid::new_v5(
            &input_id,
            format!("{name}\u{1f}step-command").as_bytes(),
        ))
        .causation_id(input_id);
    let context = match origin {
        Some(origin) => {
            let context = context.correlation_id(origin.correlation_id);
            match &origin.actor {
                Some(actor) => context.actor(actor.clone()),
                None => context,
            }
        }
        None => context,
    };
    context.into_metadata()
}

/// The record of a step on `input` that left `state` and decided `decided`.
fn record_step<P: ProcessManager>(
    input: Input,
    state: &P,
    decided: Decided<P>,
    instance: &Instance<P>,
    metadata: &Metadata,
) -> Result<StepRecord, HandlerError> {
    let input_id = input.id();
    let mut commands = Vec::with_capacity(decided.commands.len());
    for (index, command) in decided.commands.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let context = CommandContext::reacting_to(input_id, metadata, P::NAME, index).into_metadata();
        commands.push(SentCommand {
            command_id: context.command_id,
            command: command.name().to_owned(),
            payload: command.encode().map_err(HandlerError::new)?,
        });
    }
    let mut scheduled = Vec::with_capacity(decided.scheduled.len());
    for (index, item) in decided.scheduled.iter().enumerate() {
        if decided.cancelled.contains(&item.deadline) {
            continue;
        }
        scheduled.push(ScheduledRecord {
            deadline_id: Uuid::new_v5(
                &input_id,
                format!("{}\u{1f}deadline\u{1f}{index}", P::NAME).as_bytes(),
            ),
            due_at: item.due_at,
            deadline: serde_json::to_value(&item.deadline).map_err(HandlerError::new)?,
        });
    }
    let cancelled = instance
        .pending
        .iter()
        .filter(|(_, (_, deadline))| decided.cancelled.contains(deadline))
        .map(|(id, _)| *id)
        .collect();
    Ok(StepRecord {
        input,
        state: serde_json::to_value(state).map_err(HandlerError::new)?,
        commands,
        scheduled,
        cancelled,
        finished: decided.finished,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_cannot_be_part_of_a_stream_id_is_a_clear_error() {
        assert_eq!(instance_stream("transfer", "t-1").unwrap(), "transfer-t-1");
        for hostile in ["a\u{0}b", "a\u{1f}b", &"x".repeat(10_000)] {
            let error = instance_stream("transfer", hostile).unwrap_err().to_string();
            assert!(error.contains("process manager `transfer`"), "{error}");
            assert!(error.contains("does not make a stream id"), "{error}");
        }
        let empty = instance_stream("transfer", "").unwrap_err().to_string();
        assert!(empty.contains("correlation key is empty"), "{empty}");
    }
}
