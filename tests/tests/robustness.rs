//! Defects a new user and a fault run found, each with the test that failed before its fix:
//! inline views and schemas, unreadable and undecodable events, status and waits, dead letters,
//! a server restart, and upgrading an older table layout in place.

mod robustness {
    pub mod common;
    mod dead_letters;
    mod inline;
    mod layout;
    mod poison;
    mod restart;
    mod status;
}
