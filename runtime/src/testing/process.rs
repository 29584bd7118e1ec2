//! Given/when/then for process managers, without a database: events in, the commands, deadlines
//! and ends each step decides out, and a clock the test moves to make deadlines come due.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::command::{Command, RejectionOf};
use crate::core::error::HandlerError;
use crate::core::event::Event;
use crate::core::store::RecordedEvent;
use crate::process::{Process, ProcessManager, RejectedBy, Scheduled};

/// A process manager under test: its instances by correlation key, each folded from the events
/// and outcomes given to it, and a clock that starts at the time the test was made.
///
/// ```ignore
/// let mut test = ProcessTest::<TransferProcess>::new();
/// test.given(TransferRequested { .. })?;
/// test.when(TransferDebited { .. })?.then_sends([CreditForTransfer { .. }.into()]);
/// test.when_rejected(credit, BankError::NotOpen(..)).then_sends([refund.into(), fail.into()]);
/// test.advance(Duration::from_secs(900)).then_sends([..]);
/// ```
#[derive(Debug)]
pub struct ProcessTest<P: ProcessManager> {
    instances: BTreeMap<String, Tracked<P>>,
    now: DateTime<Utc>,
    position: u64,
}

/// One instance as the test knows it.
#[derive(Debug)]
struct Tracked<P: ProcessManager> {
    state: P,
    pending: Vec<Scheduled<P::Deadline>>,
    sent: Vec<P::Command>,
    finished: bool,
}

impl<P: ProcessManager> Default for ProcessTest<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: ProcessManager> ProcessTest<P> {
    /// No instance yet; the clock at now.
    pub fn new() -> Self {
        Self {
            instances: BTreeMap::new(),
            now: Utc::now(),
            position: 0,
        }
    }

    /// The test's clock: what steps take as their time, and deadlines are due against.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The state of the instance with correlation key `key`, if it took a step.
    pub fn state(&self, key: &str) -> Option<&P> {
        self.instances.get(key).map(|tracked| &tracked.state)
    }

    /// The deadlines pending for `key`.
    pub fn pending(&self, key: &str) -> &[Scheduled<P::Deadline>] {
        self.instances.get(key).map_or(&[], |tracked| &tracked.pending)
    }

    /// History: `event` happened, and what the step decided is kept but not returned.
    pub fn given<E: Event>(&mut self, event: E) -> Result<&mut Self, HandlerError> {
        self.when(event)?;
        Ok(self)
    }

    /// `event` happens: the step of the instance it correlates to (none for an event the
    /// process manager does not handle, or whose process is over).
    pub fn when<E: Event>(&mut self, event: E) -> Result<Then<P>, HandlerError> {
        let recorded = self.record(&event)?;
        let Some(key) = P::correlate(&recorded)? else {
            return Ok(Then::nothing());
        };
        let now = self.now;
        let tracked = self.instances.entry(key.clone()).or_insert_with(Tracked::new);
        if tracked.finished {
            return Ok(Then::nothing());
        }
        let mut process = Process::new(now);
        let mut state = tracked.state.clone();
        state.on_event(&recorded, &mut process)?;
        Ok(tracked.take(key, state, process))
    }

    /// The aggregate refused `command`, which an instance sent: that instance's `#[rejected]`
    /// handler for `C` decides. Panics when no instance sent an equal command, which is the
    /// test's mistake.
    pub fn when_rejected<C>(&mut self, command: C, error: RejectionOf<C>) -> Then<P>
    where
        C: Command + Into<P::Command> + Clone,
        P: RejectedBy<C>,
    {
        let sent: P::Command = command.clone().into();
        let now = self.now;
        let Some((key, tracked)) = self
            .instances
            .iter_mut()
            .find(|(_, tracked)| tracked.sent.contains(&sent))
        else {
            panic!("no instance sent {sent:?}: give the events that make it send it first");
        };
        let mut process = Process::new(now);
        let mut state = tracked.state.clone();
        state.rejected(&command, &error, &mut process);
        let key = key.clone();
        tracked.take(key, state, process)
    }

    /// The clock moves on by `by`: every deadline due by then comes back to its instance, in
    /// the order they come due, each step taken at its deadline's time. What they decided,
    /// together.
    pub fn advance(&mut self, by: Duration) -> Then<P> {
        let until = self.now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        let mut all = Then::nothing();
        loop {
            let due = self
                .instances
                .iter()
                .filter(|(_, tracked)| !tracked.finished)
                .flat_map(|(key, tracked)| {
                    tracked
                        .pending
                        .iter()
                        .enumerate()
                        .filter(|(_, scheduled)| scheduled.due_at <= until)
                        .map(move |(index, scheduled)| (scheduled.due_at, key.clone(), index))
                })
                .min();
            let Some((at, key, index)) = due else { break };
            self.now = at;
            let Some(tracked) = self.instances.get_mut(&key) else {
                break;
            };
            let scheduled = tracked.pending.remove(index);
            let mut process = Process::new(at);
            let mut state = tracked.state.clone();
            state.on_deadline(&scheduled.deadline, &mut process);
            all.extend(tracked.take(key, state, process));
        }
        self.now = until;
        all
    }

    /// `event` as a store would record it, in a stream of its own type.
    fn record<E: Event>(&mut self, event: &E) -> Result<RecordedEvent, HandlerError> {
        self.position += 1;
        let stream_id = format!("given-{}", self.position);
        super::given::recorded(event, self.position, stream_id, 1, self.now).map_err(HandlerError::new)
    }
}

impl<P: ProcessManager> Tracked<P> {
    fn new() -> Self {
        Self {
            state: P::default(),
            pending: Vec::new(),
            sent: Vec::new(),
            finished: false,
        }
    }

    /// Keeps what a step decided, as the runner records it.
    fn take(&mut self, key: String, state: P, process: Process<P>) -> Then<P> {
        let taken_at = process.now();
        let decided = process.into_parts();
        let scheduled: Vec<_> = decided
            .scheduled
            .into_iter()
            .filter(|scheduled| !decided.cancelled.contains(&scheduled.deadline))
            .collect();
        self.pending
            .retain(|pending| !decided.cancelled.contains(&pending.deadline));
        self.pending.extend(scheduled.iter().cloned());
        self.sent.extend(decided.commands.iter().cloned());
        if decided.finished {
            self.finished = true;
            self.pending.clear();
        }
        self.state = state.clone();
        let after = scheduled
            .iter()
            .map(|s| (s.due_at - taken_at).to_std().unwrap_or(Duration::ZERO))
            .collect();
        Then {
            key: Some(key),
            state: Some(state),
            commands: decided.commands,
            scheduled,
            after,
            cancelled: decided.cancelled,
            finished: decided.finished,
        }
    }
}

/// What a step (or the steps of one [`advance`](ProcessTest::advance)) decided.
#[derive(Debug)]
pub struct Then<P: ProcessManager> {
    key: Option<String>,
    state: Option<P>,
    commands: Vec<P::Command>,
    scheduled: Vec<Scheduled<P::Deadline>>,
    /// How long after its step each deadline of `scheduled` is due.
    after: Vec<Duration>,
    cancelled: Vec<P::Deadline>,
    finished: bool,
}

impl<P: ProcessManager> Then<P> {
    fn nothing() -> Self {
        Self {
            key: None,
            state: None,
            commands: Vec::new(),
            scheduled: Vec::new(),
            after: Vec::new(),
            cancelled: Vec::new(),
            finished: false,
        }
    }

    fn extend(&mut self, other: Then<P>) {
        self.key = other.key.or(self.key.take());
        self.state = other.state.or(self.state.take());
        self.commands.extend(other.commands);
        self.scheduled.extend(other.scheduled);
        self.after.extend(other.after);
        self.cancelled.extend(other.cancelled);
        self.finished |= other.finished;
    }

    /// The correlation key of the instance that took the step; `None` when none did.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The instance's state after the step.
    pub fn state(&self) -> Option<&P> {
        self.state.as_ref()
    }

    /// The commands decided, in order.
    pub fn commands(&self) -> &[P::Command] {
        &self.commands
    }

    /// The deadlines set.
    pub fn scheduled(&self) -> &[Scheduled<P::Deadline>] {
        &self.scheduled
    }

    /// Whether the step finished the process.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Asserts the commands decided, in order.
    #[track_caller]
    pub fn then_sends(&self, expected: impl IntoIterator<Item = P::Command>) -> &Self {
        let expected: Vec<_> = expected.into_iter().collect();
        assert_eq!(
            self.commands, expected,
            "the commands the step sent (left) are not the ones expected (right)"
        );
        self
    }

    /// Asserts that the step sent nothing.
    #[track_caller]
    pub fn then_sends_nothing(&self) -> &Self {
        assert!(self.commands.is_empty(), "the step sent {:?}", self.commands);
        self
    }

    /// Asserts the deadlines set: each `deadline` due `after` the step's time.
    #[track_caller]
    pub fn then_schedules(&self, expected: impl IntoIterator<Item = (Duration, P::Deadline)>) -> &Self {
        let set: Vec<(Duration, P::Deadline)> = self
            .after
            .iter()
            .copied()
            .zip(self.scheduled.iter().map(|s| s.deadline.clone()))
            .collect();
        let wanted: Vec<(Duration, P::Deadline)> = expected.into_iter().collect();
        assert_eq!(
            set, wanted,
            "the deadlines the step set (left) are not the ones expected (right)"
        );
        self
    }

    /// Asserts that the step cancelled `deadline`.
    #[track_caller]
    pub fn then_cancels(&self, deadline: P::Deadline) -> &Self {
        assert!(
            self.cancelled.contains(&deadline),
            "the step cancelled {:?}, not {deadline:?}",
            self.cancelled
        );
        self
    }

    /// Asserts that the step finished the process.
    #[track_caller]
    pub fn then_finishes(&self) -> &Self {
        assert!(self.finished, "the step did not finish the process");
        self
    }
}
