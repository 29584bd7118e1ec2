//! The backends: each store in a folder of its own, behind its cargo feature. Nothing outside
//! this folder names a database driver; a new backend is a new folder here, implementing the
//! traits of `core` (and, for a SQL engine, the [`Dialect`](sql::Dialect) of `sql/`).

pub mod memory;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
pub mod portable;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
pub(crate) mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
