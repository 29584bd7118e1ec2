//! What only one backend does, beside the conformance suite that every backend passes: a file
//! per backend.
//!
//! - `memory.rs`: `MemoryStore` commits in position order;
//! - `sqlite.rs`: files, pools, the busy timeout, rows written by other programs, query plans;
//! - `postgres/`: layout upgrades and rights (`layout.rs`), rows written by other programs
//!   (`rows.rs`), commits out of position order and the xmin fence (`subscription.rs`), dropped
//!   connections and an absent server (`connections.rs`), and its two modes, group commit
//!   (`group_commit.rs`) and inline projections (`inline.rs`).

mod memory;
mod postgres;
mod sqlite;
