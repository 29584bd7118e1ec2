//! Given/when/then tests of an aggregate's decisions, without a database, and given/then tests
//! of a projection's handlers and queries ([`ProjectionTest`]), on a read store without an event
//! store (a [`SqliteReadStore::temporary`](crate::SqliteReadStore::temporary) needs no server),
//! and given/when/then tests of a process manager's steps ([`ProcessTest`]: events, rejections
//! and a clock in; commands, deadlines and ends out), without a database.
//!
//! ```
//! # use chronicle::testing::AggregateTest;
//! # fn demo<A: chronicle::Aggregate + chronicle::Handle<C>, C>(history: Vec<A::Event>, cmd: C, expected: Vec<A::Event>)
//! # where A::Services: Default {
//! AggregateTest::<A>::given(history).when(cmd).then_expect_events(expected);
//! # }
//! ```

use std::fmt::Debug;

mod given;
mod process;
mod projection;

pub use self::process::{ProcessTest, Then};
pub use self::projection::{ProjectionTest, ProjectionTestError};

use crate::core::aggregate::{Aggregate, Handle};
use crate::core::event::EventSet;

/// A test of one decision: the events an aggregate has seen, then a command.
pub struct AggregateTest<A: Aggregate> {
    state: A,
    services: A::Services,
}

impl<A: Aggregate> Debug for AggregateTest<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateTest")
            .field("aggregate", &A::NAME)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> AggregateTest<A>
where
    A::Services: Default,
{
    /// An aggregate that has seen no events. Its handlers get `A::Services::default()`, so this
    /// needs `Services: Default`; see [`given_with_services`](Self::given_with_services) otherwise.
    pub fn given_no_history() -> Self {
        Self::given(Vec::new())
    }

    /// An aggregate that has seen `history`, in order. Its handlers get `A::Services::default()`,
    /// so this needs `Services: Default`; see [`given_with_services`](Self::given_with_services)
    /// otherwise.
    pub fn given(history: impl IntoIterator<Item = A::Event>) -> Self {
        Self::given_with_services(history, A::Services::default())
    }
}

impl<A: Aggregate> AggregateTest<A> {
    /// An aggregate that has seen `history` and decides with `services`.
    pub fn given_with_services(history: impl IntoIterator<Item = A::Event>, services: A::Services) -> Self {
        let mut state = A::default();
        for event in history {
            state.apply(&event);
        }
        Self { state, services }
    }

    /// Lets the aggregate decide on `command`.
    pub fn when<C>(self, command: C) -> Outcome<A, C>
    where
        A: Handle<C>,
    {
        let result = self.state.handle(&command, &self.services);
        Outcome { result }
    }
}

/// The aggregate's decision, to be checked.
#[must_use = "an outcome checks nothing until one of its `then_*` methods is called"]
pub struct Outcome<A: Handle<C>, C> {
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Handle<C>, C> Debug for Outcome<A, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outcome")
            .field("events", &self.result.as_ref().ok())
            .field("rejection", &self.result.as_ref().err().map(ToString::to_string))
            .finish()
    }
}

impl<A: Handle<C>, C> Outcome<A, C> {
    /// Asserts that the command was accepted with exactly these events, compared by stored name,
    /// version and JSON payload.
    #[track_caller]
    pub fn then_expect_events(self, expected: impl IntoIterator<Item = A::Event>) {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.result {
            Ok(actual) => assert_eq!(
                fingerprints(&actual),
                fingerprints(&expected),
                "\nthe command produced {actual:#?}\nbut the test expected {expected:#?}"
            ),
            Err(error) => panic!(
                "the command was rejected with `{error}` ({error:?}), but the test expected {expected:#?}"
            ),
        }
    }

    /// Asserts that the command was rejected, and returns the error for further checks.
    #[track_caller]
    pub fn then_expect_error(self) -> A::Error {
        match self.result {
            Ok(events) => {
                panic!("the command was accepted with {events:#?}, but the test expected a rejection")
            }
            Err(error) => error,
        }
    }

    /// Asserts that the command was rejected with an error whose message is `message`.
    #[track_caller]
    pub fn then_expect_error_message(self, message: &str) {
        let error = self.then_expect_error();
        assert_eq!(
            error.to_string(),
            message,
            "the command was rejected with another error: {error:?}"
        );
    }

    /// The raw decision, for assertions the methods above do not cover.
    pub fn into_result(self) -> Result<Vec<A::Event>, A::Error>
    where
        A::Error: Debug,
    {
        self.result
    }
}

fn fingerprints<E: EventSet>(events: &[E]) -> Vec<(&'static str, u32, String)> {
    events
        .iter()
        .map(|event| {
            let payload = event.to_payload().map_or_else(
                |error| format!("<unserializable: {error}>"),
                |raw| raw.get().to_owned(),
            );
            (event.event_type(), event.event_version(), payload)
        })
        .collect()
}
