//! The book's aggregate with services (write-side chapter): a library loan that reads the time
//! from a clock, so that tests can fix it.

// ANCHOR: services
use chronicle::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// What the loan's handlers consult besides its state: the time.
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(at) => *at,
        }
    }
}

#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "library.LoanStarted")]
pub struct LoanStarted {
    pub book_id: String,
    pub member: String,
    pub due: DateTime<Utc>,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Loan)]
pub struct Lend {
    #[id]
    pub book_id: String,
    pub member: String,
}

#[derive(Debug, thiserror::Error)]
#[error("book {0} is already lent")]
pub struct AlreadyLent(pub String);

#[derive(Default, Clone)]
pub struct Loan {
    lent: bool,
}

#[aggregate(name = "library.Loan", services = Clock)]
impl Loan {
    #[handle]
    fn lend(&self, command: &Lend, clock: &Clock) -> Result<LoanStarted, AlreadyLent> {
        if self.lent {
            return Err(AlreadyLent(command.book_id.clone()));
        }
        Ok(LoanStarted {
            book_id: command.book_id.clone(),
            member: command.member.clone(),
            due: clock.now() + TimeDelta::days(14),
        })
    }

    #[apply]
    fn started(&mut self, _event: &LoanStarted) {
        self.lent = true;
    }
}

/// The library's write side, deciding with the system clock.
pub fn library<S: EventStore>(store: S) -> Chronicle<S> {
    Chronicle::new(store).with_services::<Loan>(Clock::System)
}
// ANCHOR_END: services

// ANCHOR: harness
use chronicle::testing::AggregateTest;

#[test]
fn a_loan_is_due_two_weeks_after_it_starts() {
    let now = Utc::now();
    // `Clock` has no `Default`, so the test passes one: `given` and `given_no_history` need
    // services that are `Default` (as `()` is, for aggregates without services).
    AggregateTest::<Loan>::given_with_services([], Clock::Fixed(now))
        .when(Lend {
            book_id: "dune".into(),
            member: "ada".into(),
        })
        .then_expect_events([LoanStarted {
            book_id: "dune".into(),
            member: "ada".into(),
            due: now + TimeDelta::days(14),
        }
        .into()]);
}
// ANCHOR_END: harness

#[tokio::test]
async fn without_its_services_the_aggregate_refuses_to_decide() {
    let lend = || Lend {
        book_id: "dune".into(),
        member: "ada".into(),
    };
    let unregistered = Chronicle::new(MemoryStore::new());
    assert!(matches!(
        unregistered.execute(lend()).await,
        Err(CommandError::ServicesMissing {
            aggregate: "library.Loan"
        })
    ));
    library(MemoryStore::new()).execute(lend()).await.unwrap();
}
