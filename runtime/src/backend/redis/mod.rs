//! The Redis backend: a read store ([`RedisReadStore`]) keeping read models, checkpoints, dead
//! letters, leases and the consumer records in Redis (7 or later), for read models kept in Redis
//! while the events stay in Postgres or SQLite.
//!
//! Where things are: `read_store.rs` the store (keys, leases by `SET NX PX` and Lua scripts,
//! fenced checkpoints by `WATCH`, dead letters, consumer records); `connection.rs` what handlers
//! write with ([`RedisWrites`]: queued commands applied by the transaction's `MULTI`/`EXEC`, and
//! reads of committed values) and the read methods of a query's [`ReadOnly`](crate::ReadOnly);
//! `location.rs` its blue/green locations (a key namespace each); `errors.rs` the one sorting of
//! the client's failures.

mod connection;
mod errors;
mod location;
mod read_store;

pub use self::connection::{RedisTransaction, RedisWrites};
pub use self::read_store::{RedisReadStore, RedisSession};
