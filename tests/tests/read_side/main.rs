//! The read side against real databases: projection runners fed from a Postgres (or SQLite)
//! event store, writing read models beside the events (level 1), in another Postgres database or
//! in a SQLite file (level 2); queries through read-only transactions; batch handlers; and read
//! models rebuilt as they were at a position or a time.
//!
//! - `runner.rs`: catch-up, live wake-ups, crashes, leases and standbys, poison events, rebuilds,
//!   versions, read-your-writes, status, level 2;
//! - `batch.rs`: batch handlers (`#[on]` methods taking `&[E]`) and the bank's batch views;
//! - `replay.rs`: `replay_until`, into a read store of its own while the live one carries on.

mod batch;
mod replay;
mod runner;
