//! The memory backend: stores kept in process memory, for tests and prototypes; `keys.rs` its key store
//! of `#[pii]` fields, beside the log.

mod keys;
mod store;

pub use self::store::MemoryStore;
