//! The memory backend: stores kept in process memory, for tests and prototypes.

mod store;

pub use self::store::MemoryStore;
