//! Time travel: an aggregate as it was at a stream version or at a point in time.

use bank::Account;
use chronicle::prelude::*;

use super::write::{deposit, open, withdraw};
use chrono::{DateTime, Utc};

use crate::wait::{until, DEADLINE};

pub async fn load_at_version_replays_that_many_events<S: EventStore>(store: S) {
    let bank = Chronicle::new(store);
    bank.execute(open("t-1")).await.unwrap();
    bank.execute(deposit("t-1", 100)).await.unwrap();
    bank.execute(withdraw("t-1", 30)).await.unwrap();
    bank.execute(deposit("t-1", 5)).await.unwrap();

    let at = |version| bank.load_at_version::<Account>("t-1", version);
    let before = at(0).await.unwrap();
    assert_eq!((before.state.is_open(), before.version), (false, 0));
    for (version, balance) in [(1, 0), (2, 100), (3, 70), (4, 75)] {
        let loaded = at(version).await.unwrap();
        assert!(loaded.state.is_open());
        assert_eq!((loaded.state.balance(), loaded.version), (balance, version));
    }
    let beyond = at(10).await.unwrap();
    assert_eq!(
        (beyond.state.balance(), beyond.version),
        (75, 4),
        "a version past the end loads the whole stream"
    );
}

pub async fn load_as_of_replays_the_events_recorded_by_then<S: EventStore>(store: S) {
    let bank = Chronicle::new(store);
    bank.execute(open("t-2")).await.unwrap();
    for amount in [10, 20, 30] {
        // Distinct recorded times, whatever the store clock's resolution.
        let last = bank.history::<Account>("t-2").await.unwrap().pop().unwrap();
        clock_passes(last.recorded_at).await;
        bank.execute(deposit("t-2", amount)).await.unwrap();
    }
    let history = bank.history::<Account>("t-2").await.unwrap();
    let recorded: Vec<_> = history.iter().map(|e| e.recorded_at).collect();
    assert!(recorded.windows(2).all(|w| w[0] < w[1]), "{recorded:?}");

    let as_of = |at| bank.load_as_of::<Account>("t-2", at);
    let before = as_of(recorded[0] - chrono_ms(1)).await.unwrap();
    assert_eq!((before.version, before.state.is_open()), (0, false));
    for (index, balance) in [(0, 0), (1, 10), (2, 30), (3, 60)] {
        let exactly = as_of(recorded[index]).await.unwrap();
        assert_eq!(
            (exactly.version, exactly.state.balance()),
            (index as u64 + 1, balance)
        );
    }
    let between = as_of(recorded[1] + (recorded[2] - recorded[1]) / 2)
        .await
        .unwrap();
    assert_eq!((between.version, between.state.balance()), (2, 10));
    let now = as_of(chrono::Utc::now() + chrono_ms(60_000)).await.unwrap();
    assert_eq!((now.version, now.state.balance()), (4, 60));
}

fn chrono_ms(ms: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::milliseconds(ms)
}

/// Waits until the clock is past `at` by more than a store's resolution (a millisecond), so that
/// the next event is recorded at a later time. (The stores' clock is this machine's.)
pub async fn clock_passes(at: DateTime<Utc>) {
    until("the clock to pass the last recorded time", DEADLINE, || {
        Utc::now() - at > chrono_ms(2)
    })
    .await
}
