//! Shared support for Chronicle's integration tests, and the book's chapters as doc comments: their
//! plain `rust` listings (the complete examples) run as doc tests. Their `rust,ignore` listings
//! are includes of compiled code (examples' sources, and `book/listings`, which `tests/book.rs`
//! compiles and runs); `tests/book.rs` checks that no other kind of listing is left.

pub mod support;

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

/// The performance chapter.
#[doc = include_str!("../../book/src/performance.md")]
pub mod book_performance {}
