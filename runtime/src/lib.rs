//! # Chronicle
//!
//! CQRS and event sourcing for Rust. Annotate plain domain types; the macros generate the command
//! handling and the event enums; the runtime executes commands against an event store (Postgres,
//! an embedded SQLite file, or memory) with optimistic concurrency.
//!
//! ```ignore
//! use chronicle::prelude::*;
//! ```
//!
//! The guide is the mdBook in `book/` of the repository.
#![deny(missing_docs)]

extern crate self as chronicle;

pub mod aggregate;
mod cache;
pub mod command;
pub mod error;
pub mod event;
mod execute;
pub mod metadata;
pub mod projection;
pub mod query;
pub mod store;
pub mod subscription;
pub mod testing;

pub use crate::aggregate::{Aggregate, Handle};
pub use crate::cache::DEFAULT_CACHE_CAPACITY;
pub use crate::command::{Command, Receipt, RejectionOf};
pub use crate::error::{CommandError, StoreError};
pub use crate::event::{DecodeError, Envelope, Event, EventSet};
pub use crate::execute::{decode_recorded, Chronicle, Loaded, DEFAULT_MAX_ATTEMPTS};
pub use crate::metadata::{CommandContext, Metadata};
#[cfg(feature = "postgres")]
pub use crate::projection::PostgresReadStore;
#[cfg(feature = "sqlite")]
pub use crate::projection::SqliteReadStore;
pub use crate::projection::{
    BatchFailure, HandlerError, OnPoison, Projection, ProjectionError, ProjectionHandle, ProjectionRunner,
    ProjectionStatus, ReadConnection, ReadStore, RetryPolicy,
};
pub use crate::query::{Answer, Query, QueryError, ReadOnly, ReadSide};
#[cfg(feature = "postgres")]
pub use crate::store::group_commit::{GroupCommit, GroupCommitStore};
#[cfg(feature = "postgres")]
pub use crate::store::inline::InlineStore;
pub use crate::store::memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use crate::store::postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use crate::store::sqlite::SqliteStore;
pub use crate::store::{EventStore, NewEvent, RecordedEvent, Snapshot};
pub use crate::subscription::{AppendListener, Batch, Checkpoint, EventSource, Head};

/// The sqlx version Chronicle is built with, for read-model code (`chronicle::sqlx::PgConnection`).
pub use sqlx;

/// Turns an `impl` block into an aggregate. See the book's reference chapter.
pub use chronicle_macros::aggregate;
/// Turns a read model's `impl` block into a [`Projection`], with `#[on]` event handlers, an optional
/// `#[reset]` method and `#[query]` methods answering [`Query`]s. See the book's reference chapter.
pub use chronicle_macros::projection;
/// Derives [`Command`] for a struct. See the book's reference chapter for its attributes.
pub use chronicle_macros::Command;
/// Derives [`Event`] for a struct. See the book's reference chapter for its attributes.
pub use chronicle_macros::Event;
/// Derives [`Query`] for a type: `#[query(output = Type, read_model = Projection)]`.
pub use chronicle_macros::Query;

/// Everything an application needs: `use chronicle::prelude::*;`.
pub mod prelude {
    #[cfg(feature = "postgres")]
    pub use crate::PostgresStore;
    #[cfg(feature = "sqlite")]
    pub use crate::SqliteStore;
    pub use crate::{
        aggregate, Aggregate, Chronicle, Command, CommandContext, CommandError, Event, EventStore, Handle,
        MemoryStore, Query, Receipt,
    };
    pub use chronicle_macros::projection;
}

/// Paths used by generated code. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private;
