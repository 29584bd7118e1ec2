//! The write side: executing commands against an event store (load, decide, append, retry), the
//! in-process state cache and turns per stream, snapshots, reading aggregates back, and forgetting a data subject. Built on the model (`core`)
//! alone; it names no database.

pub mod cache;
pub mod chronicle;
pub mod execute;
pub mod forget;
pub mod load;
pub mod retry;
pub mod snapshot;
pub mod turns;
