//! The read side: projection runners that keep read models up to date exactly once, their
//! status and read-your-writes waits, blue/green rebuilds beside the live read model, queries through [`ReadSide`](crate::ReadSide), and
//! replays into a separate read model; relays publishing the log to brokers, and consumers
//! feeding read models from them. Built on the model (`core`) alone; it names no database.

pub mod blue_green;
pub mod consumer;
pub mod control;
pub mod error;
pub(crate) mod layout;
pub mod partitioned;
pub mod read_side;
pub(crate) mod reads;
pub mod relay;
pub mod replay;
pub mod runner;
pub(crate) mod spans;
pub mod status;
pub mod wait;
