//! One file per command.

pub(crate) mod admin;
pub(crate) mod dead_letters;
pub(crate) mod events;
pub(crate) mod forget;
pub(crate) mod migrate;
pub(crate) mod status;
pub(crate) mod streams;
pub(crate) mod trace;
