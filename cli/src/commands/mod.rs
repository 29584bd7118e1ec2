//! One file per command.

pub(crate) mod migrate;
pub(crate) mod status;
pub(crate) mod streams;
pub(crate) mod trace;
