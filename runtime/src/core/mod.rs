//! The model: the types and traits everything else is written against. This layer names no
//! database driver and spawns nothing; read it first.
//!
//! From the bottom up: [`error`], [`future`] and [`metadata`]; the input [`limits`] every store
//! keeps; the [`store`] trait and its rows; [`event`]s, their upcasting and envelope;
//! [`aggregate`]s (and their stream ids) and [`command`]s; the [`source`] a subscriber follows, and its [`partition`]s;
//! [`projection`]s, the [`read_store`] they write to (and its [`location`]s, one per version of a
//! projection rebuilt blue/green), and the [`query`]s answered from it; the
//! [`publish`] and [`subscribe`] seams to message brokers and the [`message`] an event becomes;
//! the [`metrics`] both sides emit; the [`tenant`] a stream belongs to; [`pii`], personal data
//! sealed under a key per subject; the stored [`shape`] of an event type, for the event-schema
//! gate.
//!
//! This file is an index: it declares the modules and holds no items.

pub mod aggregate;
pub mod command;
pub mod error;
pub mod event;
pub mod future;
pub mod limits;
pub mod location;
pub mod message;
pub mod metadata;
pub mod metrics;
pub mod partition;
pub mod pii;
pub mod projection;
pub mod publish;
pub mod query;
pub mod read_store;
pub mod shape;
pub mod source;
pub mod store;
pub mod subscribe;
pub mod tenant;
