//! # Chronicle
//!
//! CQRS and event sourcing for Rust. Annotate plain domain types; the macros generate the command
//! handling, the event enums and the projection wiring; the runtime executes commands against an
//! event store (Postgres, an embedded SQLite file, or memory) with optimistic concurrency, and
//! keeps read models up to date from the log, exactly once.
//!
//! The guide is the mdBook in `book/` of the repository; `ARCHITECTURE.md` says where each
//! concept lives in the code.
//!
//! # Where to find things
//!
//! One rule: **every public item is at the crate root** (`chronicle::ProjectionRunner`,
//! `chronicle::OnPoison`, `chronicle::EventSource`), and the modules below only group what is
//! not used at the root:
//!
//! - [`prelude`]: what application code names to declare its domain and wire it up, in one
//!   `use chronicle::prelude::*;`: the macros and their traits, [`Chronicle`], [`ReadSide`],
//!   [`ReadOnly`], [`RecordedEvent`], the store traits ([`EventStore`], [`EventSource`],
//!   [`ReadStore`]), [`CommandContext`], [`Receipt`], the errors a caller matches on, and the
//!   stores of the enabled backends.
//! - [`testing`]: the given/when/then harnesses for aggregates, projections and process managers.
//! - [`sqlx`]: the sqlx Chronicle is built with, for read-model code
//!   (`chronicle::sqlx::PgConnection`).
//!
//! # Features
//!
//! `postgres` and `sqlite` (both on by default) each enable one backend: its event store, its
//! read store and its connection type for projections. With neither, the crate is the model, the
//! write and read sides, the memory store and the test harness, and compiles no database driver.
//! `mysql` (off by default) enables a read store in MariaDB (`MySqlReadStore`, with
//! `MySqlConnection` as its connection type for projections), for read models kept apart from the
//! events.
//! `redis` (off by default) enables a read store in Redis (`RedisReadStore`, with `RedisWrites`,
//! a queue of commands applied at the commit, as its connection type for projections).
//! `rabbitmq` and `nats` (off by default) each enable one broker a [`Relay`] publishes the log
//! to (`RabbitMqPublisher`, `NatsPublisher`) and consumers subscribe to (`RabbitMqSubscriber`,
//! `NatsSubscriber`); without them neither client is compiled.
#![deny(missing_docs, missing_debug_implementations)]

extern crate self as chronicle;

mod backend;
mod core;
mod process;
mod read;
mod write;

#[doc(hidden)]
pub mod __private;
// The helper traits generated code names, at the root too, so that a compiler message about one
// names it `chronicle::SnapshotState` rather than by its hidden module.
#[doc(hidden)]
pub use crate::core::aggregate::{AggregateState, SnapshotState, StateCheck};
#[doc(hidden)]
pub use crate::core::event::UpcastFrom;
pub mod event_schema;
pub mod testing;
/// The message an event becomes on a broker: topics, headers, and reading an event back.
pub use crate::core::message;

pub use crate::core::aggregate::{aggregate_of, stream_id};
pub use crate::core::aggregate::{Aggregate, Handle};
pub use crate::core::command::{Command, RejectionOf};
pub use crate::core::error::{BoxError, CommandError, HandlerError, StoreError};
pub use crate::core::event::{decode_recorded, DecodeError, Envelope, Event, EventSet};
pub use crate::core::future::BoxFuture;
pub use crate::core::limits::{
    check_stream_id, is_valid_aggregate_name, MAX_DEAD_LETTER_ERROR_BYTES, MAX_NAME_BYTES, MAX_PAYLOAD_BYTES,
    MAX_STREAM_ID_BYTES,
};
pub use crate::core::location::Locations;
pub use crate::core::metadata::{CommandContext, Metadata};
pub use crate::core::metrics::describe_metrics;
pub use crate::core::partition::{partition_key, Partition, MAX_PARTITIONS};
pub use crate::core::pii::keys::{Forgotten, KeyState, KeyStore, SharedKeyStore, Subject, SubjectKey};
pub use crate::core::pii::payload::{display_payload, mask_sealed, sealed_subjects, ENCRYPTED};
pub use crate::core::pii::seal::{generate_key, OpenError};
pub use crate::core::pii::{PiiField, Redact, FORGOTTEN};
pub use crate::core::projection::{BatchFailure, Identity, Projection};
pub use crate::core::publish::{PublishError, Publisher};
pub use crate::core::query::{Answer, Fetch, Query, ReadOnly};
pub use crate::core::read_store::{
    check_name, CheckpointRow, ConsumerRow, DeadLetter, DeadLetters, ReadConnection, ReadStore,
    ReadStoreError, ReadTransaction,
};
pub use crate::core::shape::EventShape;
pub use crate::core::source::{
    AppendListener, Batch, Checkpoint, EventSource, Head, Progress, UnreadableEvent, WaitForAppends,
};
pub use crate::core::store::{
    EventStore, NewEvent, Receipt, RecordedEvent, Snapshot, StreamEvent, StreamSummary,
};
pub use crate::core::subscribe::{Delivery, SubscribeError, Subscriber, Subscription, SubscriptionSpec};
pub use crate::core::tenant::{
    is_valid_tenant, tenant_stream_key, Tenant, MAX_TENANT_BYTES, TENANT_SEPARATOR,
};

pub use crate::write::cache::DEFAULT_CACHE_CAPACITY;
pub use crate::write::chronicle::Chronicle;
pub use crate::write::load::Loaded;
pub use crate::write::retry::DEFAULT_MAX_ATTEMPTS;

pub use crate::read::blue_green::{
    BlueGreenHandle, BlueGreenRunner, BlueGreenStatus, LocationStatus, DEFAULT_GRACE, MIN_GRACE,
};
pub use crate::read::consumer::{
    wait_for_consumer, Consumer, ConsumerError, ConsumerExit, ConsumerHandle, ConsumerStatus,
    OnPoisonMessage, PoisonMessage, DEFAULT_CONSUMER_BATCH,
};
pub use crate::read::control::{is_paused, pause, rebuild_detached, resume};
pub use crate::read::error::{PoisonEvent, ProjectionError};
pub use crate::read::layout::{CheckpointName, LocationRole};
pub use crate::read::partitioned::{
    PartitionStatus, PartitionedHandle, PartitionedRunner, PartitionedStatus,
};
pub use crate::read::read_side::{dead_letters_of_tenant, QueryError, ReadSide};
pub use crate::read::relay::Relay;
pub use crate::read::replay::{replay_until, ReplayError, Replayed, Until};
pub use crate::read::runner::{
    OnPoison, ProjectionHandle, ProjectionRunner, RetryPolicy, RunnerExit, DEFAULT_BATCH_SIZE, DEFAULT_LEASE,
    DEFAULT_POLL_INTERVAL,
};
pub use crate::read::status::{ProjectionStatus, RunnerState};

#[doc(hidden)]
pub use crate::process::CrashPoint;
pub use crate::process::{
    process_runner, Process, ProcessCommand, ProcessManager, ProcessProjection, RejectedBy, Rejection,
    Scheduled, Sent,
};

pub use crate::backend::memory::MemoryStore;
#[cfg(feature = "mysql")]
pub use crate::backend::mysql::MySqlReadStore;
#[cfg(feature = "nats")]
pub use crate::backend::nats::{NatsPublisher, NatsSubscriber, NatsSubscription};
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
pub use crate::backend::portable::{
    sql, sql_as, FromSqlRow, NoRows, Sql, SqlEngine, SqlRead, SqlReadStore, SqlSession, SqlStatement,
    SqlTuple, SqlValue, SqlWrite,
};
#[cfg(feature = "postgres")]
pub use crate::backend::postgres::{GroupCommit, PostgresReadStore, PostgresStore, Roles};
#[cfg(feature = "rabbitmq")]
pub use crate::backend::rabbitmq::{RabbitMqPublisher, RabbitMqSubscriber, RabbitMqSubscription};
#[cfg(feature = "redis")]
pub use crate::backend::redis::{RedisReadStore, RedisSession, RedisTransaction, RedisWrites};
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
pub use crate::backend::sql::SqlTransaction;
#[cfg(feature = "sqlite")]
pub use crate::backend::sqlite::{SqliteReadStore, SqliteStore};

/// The sqlx version Chronicle is built with, for read-model code (`chronicle::sqlx::PgConnection`).
pub use sqlx;

/// The redis client Chronicle is built with, for read-model code (`chronicle::redis::cmd`).
#[cfg(feature = "redis")]
pub use ::redis;

/// Turns an `impl` block into an aggregate. See the book's reference chapter.
pub use chronicle_macros::aggregate;
/// Turns a workflow's `impl` block into a [`ProcessManager`] (a saga), with `#[on(correlate =
/// field)]` event handlers, `#[rejected]` handlers of the commands it sends and a `#[deadline]`
/// handler. See the book's chapter on process managers.
pub use chronicle_macros::process_manager;
/// Turns a read model's `impl` block into a [`Projection`], with `#[on]` event handlers, an optional
/// `#[reset]` method and `#[query]` methods answering [`Query`]s. See the book's reference chapter.
pub use chronicle_macros::projection;
/// Derives [`Command`] for a struct. See the book's reference chapter for its attributes.
pub use chronicle_macros::Command;
/// Derives [`Event`] for a struct. See the book's reference chapter for its attributes.
pub use chronicle_macros::Event;
/// Derives [`Query`] for a type: `#[query(output = Type, read_model = Projection)]`.
pub use chronicle_macros::Query;

/// What application code names to declare its domain and wire it up: `use chronicle::prelude::*;`.
/// Everything here is also at the crate root.
pub mod prelude {
    #[cfg(feature = "mysql")]
    pub use crate::MySqlReadStore;
    pub use crate::{
        aggregate, process_manager, process_runner, projection, Aggregate, Chronicle, Command,
        CommandContext, CommandError, Envelope, Event, EventSource, EventStore, Handle, HandlerError,
        MemoryStore, OnPoison, PartitionedRunner, Process, ProcessManager, Projection, ProjectionError,
        ProjectionRunner, Query, QueryError, ReadOnly, ReadSide, ReadStore, Receipt, RecordedEvent, Redact,
        StoreError, Tenant,
    };
    #[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
    pub use crate::{sql, sql_as, Sql, SqlReadStore};
    #[cfg(feature = "postgres")]
    pub use crate::{GroupCommit, PostgresReadStore, PostgresStore};
    #[cfg(feature = "redis")]
    pub use crate::{RedisReadStore, RedisWrites};
    #[cfg(feature = "sqlite")]
    pub use crate::{SqliteReadStore, SqliteStore};
}
