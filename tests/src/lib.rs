//! Chronicle's conformance suite and what the integration tests share, and the book's chapters
//! as doc comments.
//!
//! - [`conformance`]: every store's behaviour, written once and run on the whole store matrix by
//!   the `conformance` test binary;
//! - [`counts`]: a view counting each stream's events, and event rows written by hand;
//! - [`ledger`]: a view recording each application of each event, for consumers;
//! - [`process`]: the tests' own binaries run as processes to kill, at reproducible moments;
//! - [`command_line`]: an operator's binary run, and what it printed or the one line it failed with;
//! - [`support`]: connections to the real services (Postgres, SQLite files);
//! - [`spy`]: a store that reports what reached it, to prove negatives by counting;
//! - [`wait`]: waiting on a condition with a deadline;
//! - [`throwaway`]: a Postgres cluster of a test's own, for tests that restart the server;
//! - the `book_*` modules: the chapters, whose plain `rust` listings (the complete examples) run as
//!   doc tests. Their `rust,ignore` listings are includes of compiled code (the examples' sources,
//!   and `book/listings`, which `tests/book.rs` compiles and runs); `tests/book.rs` checks that no
//!   other kind of listing is left.

pub mod brokers;
pub mod command_line;
pub mod conformance;
pub mod counts;
pub mod ledger;
pub mod process;
pub mod spy;
pub mod support;
pub mod throwaway;
pub mod throwaway_brokers;
pub mod wait;

/// The introduction.
#[doc = include_str!("../../book/src/introduction.md")]
pub mod book_introduction {}

/// The quickstart chapter.
#[doc = include_str!("../../book/src/quickstart.md")]
pub mod book_quickstart {}

/// The write-side chapter.
#[doc = include_str!("../../book/src/write-side.md")]
pub mod book_write_side {}

/// The projections chapter.
#[doc = include_str!("../../book/src/projections.md")]
pub mod book_projections {}

/// The queries chapter.
#[doc = include_str!("../../book/src/queries.md")]
pub mod book_queries {}

/// The level 1 / level 2 chapter.
#[doc = include_str!("../../book/src/levels.md")]
pub mod book_levels {}

/// The reference chapter.
#[doc = include_str!("../../book/src/reference.md")]
pub mod book_reference {}

/// The compile-errors chapter.
#[doc = include_str!("../../book/src/compiler-says-no.md")]
pub mod book_compiler_says_no {}

/// The audit-log chapter.
#[doc = include_str!("../../book/src/audit-log.md")]
pub mod book_audit_log {}

/// The time-travel chapter.
#[doc = include_str!("../../book/src/time-travel.md")]
pub mod book_time_travel {}

/// The snapshots chapter.
#[doc = include_str!("../../book/src/snapshots.md")]
pub mod book_snapshots {}

/// The evolving-events chapter.
#[doc = include_str!("../../book/src/evolving-events.md")]
pub mod book_evolving_events {}

/// The other-services chapter.
#[doc = include_str!("../../book/src/other-services.md")]
pub mod book_other_services {}

/// The performance chapter.
#[doc = include_str!("../../book/src/performance.md")]
pub mod book_performance {}

/// The polyglot chapter.
#[doc = include_str!("../../book/src/polyglot.md")]
pub mod book_polyglot {}

/// The scaling chapter.
#[doc = include_str!("../../book/src/scaling.md")]
pub mod book_scaling {}

/// The operations chapter (the command line).
#[doc = include_str!("../../book/src/operations.md")]
pub mod book_operations {}

/// The metrics and traces chapter.
#[doc = include_str!("../../book/src/observability.md")]
pub mod book_observability {}

/// The admin-page chapter.
#[doc = include_str!("../../book/src/admin.md")]
pub mod book_admin {}

/// The database-roles chapter.
#[doc = include_str!("../../book/src/roles.md")]
pub mod book_roles {}

/// The rules-across-aggregates chapter.
#[doc = include_str!("../../book/src/cross-aggregate.md")]
pub mod book_cross_aggregate {}

/// The process-managers chapter.
#[doc = include_str!("../../book/src/process-managers.md")]
pub mod book_process_managers {}

/// The tenants chapter.
#[doc = include_str!("../../book/src/tenants.md")]
pub mod book_tenants {}
/// The faults and hostile input chapter.
#[doc = include_str!("../../book/src/faults.md")]
pub mod book_faults {}
/// The fuzzing and property tests chapter.
#[doc = include_str!("../../book/src/fuzzing.md")]
pub mod book_fuzzing {}
/// The crypto-shredding chapter.
#[doc = include_str!("../../book/src/forgetting.md")]
pub mod book_forgetting {}
