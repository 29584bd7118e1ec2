//! Process managers (sagas): workflows across aggregates, reacting to events and sending
//! commands, with state per correlation key and deadlines.
//!
//! Where things are: `manager.rs` the [`ProcessManager`] trait `#[process_manager]` implements,
//! its command enum's trait and what a step decides ([`Process`]); `record.rs` the step record
//! an instance's stream holds and its fold; `engine.rs` taking a step (load, finish the open
//! step, decide, record, send); `schedule.rs` the leading runner's index of pending deadlines;
//! `runner.rs` the projection a [`ProjectionRunner`](crate::ProjectionRunner) runs it as.
//!
//! This layer sits above `write` and `read`: it sends commands through a
//! [`Chronicle`](crate::Chronicle) and runs as a projection.

mod engine;
mod manager;
mod record;
mod runner;
mod schedule;

pub use self::engine::CrashPoint;
pub use self::manager::{
    send_command, Process, ProcessCommand, ProcessManager, RejectedBy, Rejection, Scheduled, Sent,
};
pub use self::runner::{process_runner, ProcessProjection};
