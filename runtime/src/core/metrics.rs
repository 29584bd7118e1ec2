//! The metrics Chronicle emits through the [`metrics`] facade: every name, label, unit and
//! description is here, and the write and read sides emit only through the functions below.
//!
//! Without a recorder installed the facade's no-op recorder takes them, at the cost of building
//! a key; with one (a Prometheus exporter, say) they are the numbers of the operations chapter
//! of the book. Names follow Prometheus' conventions: `chronicle_` first, the unit last,
//! counters ending in `_total`.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};

/// Commands, by `command` (its type) and `outcome`: the outcome of the `chronicle.execute` span
/// (`appended`, `unchanged`, `rejected`, `conflicted`, `failed`) once per command, and `retried`
/// once per attempt that was tried again (after a concurrency conflict, or on finding the cached
/// state it decided on stale).
const COMMANDS: &str = "chronicle_commands_total";
/// How long the store took to append a command's events (or to refuse them), by `aggregate`.
const APPEND_SECONDS: &str = "chronicle_append_duration_seconds";
/// Events a projection applied and committed, by `projection`.
const EVENTS_APPLIED: &str = "chronicle_projection_events_applied_total";
/// Events of the log between the last a projection applied and the head, by `projection`.
const LAG_EVENTS: &str = "chronicle_projection_lag_events";
/// How long ago the last event a projection applied was recorded, while it has more to read.
const LAG_SECONDS: &str = "chronicle_projection_lag_seconds";
/// Events a projection recorded as dead letters, by `projection`.
const DEAD_LETTERS: &str = "chronicle_projection_dead_letters_total";
/// Events a relay published and the broker confirmed, by `relay`.
const PUBLISHED: &str = "chronicle_relay_events_published_total";

/// Describes Chronicle's metrics (unit and help text) to the installed recorder: call it once,
/// after installing the recorder, so that an exporter can say what each one is (a Prometheus
/// exporter prints them as `# HELP` and `# TYPE` lines). The metrics are emitted whether or not
/// it is called.
pub fn describe_metrics() {
    describe_counter!(
        COMMANDS,
        Unit::Count,
        "Commands by type and outcome (appended, unchanged, rejected, conflicted, failed), and \
         each attempt that was tried again after a concurrency conflict or a stale cached state (retried)"
    );
    describe_histogram!(
        APPEND_SECONDS,
        Unit::Seconds,
        "How long the event store took to append a command's events, by aggregate"
    );
    describe_counter!(
        EVENTS_APPLIED,
        Unit::Count,
        "Events a projection applied and committed, by projection (relays included)"
    );
    describe_gauge!(
        LAG_EVENTS,
        Unit::Count,
        "Events of the log between the last one a projection applied and the head; 0 once caught up"
    );
    describe_gauge!(
        LAG_SECONDS,
        Unit::Seconds,
        "How long ago the last event a projection applied was recorded, while it has more to read; \
         0 once caught up"
    );
    describe_counter!(
        DEAD_LETTERS,
        Unit::Count,
        "Events a projection could not apply and recorded as dead letters, by projection"
    );
    describe_counter!(
        PUBLISHED,
        Unit::Count,
        "Events a relay published and the broker confirmed, by relay"
    );
}

/// A command ended with `outcome` after `retries` attempts that were tried again.
pub(crate) fn command_executed(command: &'static str, outcome: &'static str, retries: u32) {
    counter!(COMMANDS, "command" => command, "outcome" => outcome).increment(1);
    if retries > 0 {
        counter!(COMMANDS, "command" => command, "outcome" => "retried").increment(u64::from(retries));
    }
}

/// One append of a command's events to a stream of `aggregate` took `elapsed`.
pub(crate) fn append_took(aggregate: &'static str, elapsed: Duration) {
    histogram!(APPEND_SECONDS, "aggregate" => aggregate).record(elapsed.as_secs_f64());
}

/// `projection` committed `count` more events.
pub(crate) fn events_applied(projection: &'static str, count: usize) {
    counter!(EVENTS_APPLIED, "projection" => projection).increment(count as u64);
}

/// Where `projection` stands: `events` of the log ahead of it, the last it applied recorded
/// `behind` ago (both zero once it is caught up).
pub(crate) fn projection_lag(projection: &'static str, events: u64, behind: Duration) {
    gauge!(LAG_EVENTS, "projection" => projection).set(events as f64);
    gauge!(LAG_SECONDS, "projection" => projection).set(behind.as_secs_f64());
}

/// `projection` recorded one more dead letter.
pub(crate) fn dead_lettered(projection: &'static str) {
    counter!(DEAD_LETTERS, "projection" => projection).increment(1);
}

/// `relay` published `count` more events, confirmed by the broker.
pub(crate) fn published(relay: &'static str, count: usize) {
    counter!(PUBLISHED, "relay" => relay).increment(count as u64);
}
