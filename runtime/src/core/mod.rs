//! The model: the types and traits everything else is written against. This layer names no
//! database driver and spawns nothing; read it first.
//!
//! From the bottom up: [`error`] and [`metadata`]; the [`store`] trait and its rows; [`event`]s,
//! their upcasting and envelope; [`aggregate`]s and [`command`]s; [`stream`] ids and input
//! limits; the [`source`] a subscriber follows; [`projection`]s, the [`read_store`] they write to,
//! and the [`query`]s answered from it.

pub mod aggregate;
pub mod command;
pub mod error;
pub mod event;
pub mod metadata;
pub mod projection;
pub mod query;
pub mod read_store;
pub mod source;
pub mod store;
pub mod stream;

use std::future::Future;
use std::pin::Pin;

/// A boxed future, as returned by generated projection and query code.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An error and its causes on one line, for logs, status and dead letters.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // `#[error("{0}")]` wrappers repeat their source's message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
