//! Scaling the read side out: a partitioned view caught up by 1, 2 or 4 worker processes beside
//! the raw limit of the same work on 1 and 4 connections (`catch_up.rs`), and the failover time
//! of a worker killed or paused (`failover.rs`). The workers are processes of the harness binary
//! itself (`harness partition-worker`, `worker.rs`), started and stopped by `processes.rs`; the
//! views they run are in `views.rs`. Read-your-writes with the runner in such a process is
//! `remote_ryw.rs`.

pub(crate) mod catch_up;
pub(crate) mod failover;
mod processes;
pub(crate) mod remote_ryw;
pub(crate) mod rows;
pub(crate) mod views;
mod worker;

pub use self::worker::partition_worker;
pub(crate) use self::worker::View;
