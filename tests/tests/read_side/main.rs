//! The read side against real databases: projection runners fed from a Postgres (or SQLite)
//! event store, writing read models beside the events (level 1), in another Postgres database or
//! in a SQLite file (level 2); queries through read-only transactions; batch handlers; and read
//! models rebuilt as they were at a position or a time.
//!
//! - `runner.rs`: catch-up, live wake-ups, crashes, leases and standbys, poison events, rebuilds,
//!   versions, read-your-writes, status, level 2;
//! - `blue_green.rs`: rebuilds without downtime on Postgres, SQLite and MariaDB: queries answered
//!   throughout a rebuild of 100,000 events, two versions side by side, the switch never going
//!   back, old locations dropped after their runner stopped and the grace period, hostile names;
//! - `blue_green_redis.rs`: the same on Redis (a key namespace per location, the view's keys named
//!   through `RedisWrites::key`), and `drop_location` removing the namespace and nothing else;
//! - `batch.rs`: batch handlers (`#[on]` methods taking `&[E]`) and the bank's batch views;
//! - `replay.rs`: `replay_until`, into a read store of its own while the live one carries on;
//! - `poison.rs`: events a runner cannot read or decode, poison at once, named;
//! - `dead_letters.rs`: dead letters per projection version, cleared by a rebuild that applies them;
//! - `forgetting.rs`: a read model of personal data rebuilt after `forget` holds none of the
//!   forgotten subject's, on Postgres and SQLite;
//! - `mysql.rs`: read models in MariaDB fed from Postgres (a `#[projection]` on
//!   `MySqlConnection`): runners, standbys, crashes, rebuilds, dead letters, read-only queries,
//!   named locks, times and error classes;
//! - `redis.rs`: read models in Redis fed from Postgres (a leaderboard `#[projection]` on
//!   `RedisWrites`): runners, standbys, crashes, rebuilds, dead letters, read-only queries, leases,
//!   the `WATCH` fence, a Redis restart mid-catch-up, error classes;
//! - `partition_processes.rs`: worker processes killed at random and paused past their lease;
//! - `runner_processes.rs`: a plain runner's process killed with `kill -9` at 50 random moments
//!   while a writer appends;
//! - `partitioned.rs`: partitioned projections, workers sharing partitions, joining, stopping,
//!   crashing, read-your-writes per partition, re-partitioning, partition reads by index;
//! - `portable.rs`: one projection written once on `Sql`, the same scenarios on a
//!   `SqlReadStore` over Postgres, SQLite and MariaDB, and the order example's view on all three;
//! - `contract.rs`: the read-store contract through the `ReadStore` API on every store (and
//!   behind a `SqlReadStore`): fenced, transactional checkpoints, dead letters, one leader;
//! - `control.rs`: an operator's pause, resume and detached rebuild, seen by every runner;
//! - `consumer_tables.rs`: the consumer tables of the three SQL read stores (fenced rows, stream
//!   versions per consumer, corrupt rows), through the `ReadStore` API;
//! - `hostile_names.rs`: hostile schema, projection, prefix and file names on every store, kept
//!   exactly or refused alike with a typed error;
//! - `status.rs`: how far through the log a read model is, and what an open transaction holds back.

mod batch;
mod blue_green;
mod blue_green_redis;
mod consumer_tables;
mod contract;
mod control;
mod dead_letters;
mod forgetting;
mod hostile_names;
mod mysql;
mod partition_processes;
mod partitioned;
mod poison;
mod portable;
mod redis;
mod replay;
mod runner;
mod runner_processes;
mod status;

/// A migrated Postgres store in a new, empty schema, on a pool that sets no `search_path` of the
/// test's own.
pub async fn fresh_store() -> chronicle::PostgresStore {
    let store = chronicle_tests::support::unmigrated_postgres_store().await;
    store.migrate().await.expect("migrate");
    store
}

/// The pace of the runners the tests start: quick polls and retries, and a stop that must be
/// clean.
mod pace {
    use std::time::Duration;

    use chronicle::{EventSource, Projection, ProjectionHandle, ProjectionRunner, RetryPolicy};

    /// Quick polls and retries.
    pub fn quick<P: Projection, S: EventSource>(runner: ProjectionRunner<P, S>) -> ProjectionRunner<P, S> {
        runner
            .poll_interval(Duration::from_millis(100))
            .retry(RetryPolicy::new(3, Duration::from_millis(5)))
    }

    /// Stops the runner, which must stop cleanly.
    pub async fn stop<P: Projection, S: EventSource>(handle: ProjectionHandle<P, S>) {
        handle
            .stop()
            .await
            .into_result()
            .expect("the runner stops cleanly");
    }
}
