//! The order example: the textbook order aggregate on the write side, and a denormalized order
//! summary kept in a physically separate store on the read side (level 2).

pub mod domain;
pub mod views;
