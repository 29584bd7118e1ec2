//! The boxed future of trait methods that generated code implements.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, as returned by generated projection and query code.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
