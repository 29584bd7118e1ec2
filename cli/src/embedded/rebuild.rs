//! `rebuild <projection>`: the read model emptied and its checkpoint moved back to the start
//! ([`chronicle::rebuild_detached`]), then replayed by the runner that leads, or by one this
//! command runs when none does, with a progress bar (rate and ETA) until it has caught up with
//! the log's head as it was when the rebuild began.

use std::time::{Duration, Instant};

use chronicle::{
    Checkpoint, EventSource, Identity, Projection, ProjectionHandle, ProjectionRunner, ReadStore,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::error::CliError;

/// How often the checkpoint is read from the read store.
const POLL: Duration = Duration::from_millis(200);
/// How often the events left are counted in the log (a count of the rest of the log, which a
/// rebuild of millions of events should not pay five times a second).
const COUNT_EVERY: Duration = Duration::from_secs(1);
/// How long the read model may stay where it is, while a runner elsewhere holds the claim,
/// before the rebuild says that runner is not replaying it (an older version, or stuck).
const STALL: Duration = Duration::from_secs(60);

/// What a rebuild did.
#[derive(Debug, Serialize)]
pub(crate) struct Rebuilt {
    projection: &'static str,
    version: u32,
    /// The log's head when the rebuild began: the read model covers at least this far.
    through: u64,
    /// The projection's events up to there, replayed.
    events: u64,
    seconds: f64,
    /// Whether this command ran the runner that replayed it (none led anywhere else).
    ran_here: bool,
}

impl Rebuilt {
    /// What the table output says.
    pub(crate) fn sentence(&self, name: &str) -> String {
        let rate = match self.seconds {
            s if s > 0.0 => format!(" ({:.0} events/s)", self.events as f64 / s),
            _ => String::new(),
        };
        let by = match self.ran_here {
            true => "by a runner of this command",
            false => "by the runner that leads",
        };
        format!(
            "rebuilt {name} (version {}): {} events replayed through position {} in {:.1} s{rate}, {by}",
            self.version, self.events, self.through, self.seconds
        )
    }
}

pub(crate) async fn rebuild<P, S>(source: &S, store: &P::Store, make: fn() -> P) -> Result<Rebuilt, CliError>
where
    P: Projection,
    S: EventSource + Clone,
{
    // A paused projection has no runner to replay it: say so before emptying it.
    if chronicle::is_paused(store, P::NAME).await? {
        return Err(CliError::Invalid(format!(
            "{} is paused: `resume` it first, or its read model stays empty",
            P::NAME
        )));
    }
    let started = Instant::now();
    let head = source.head().await?.position.unwrap_or(0);
    // Where the checkpoint stands once it covers the head (a checkpoint is not a position on
    // every store: Postgres orders by transaction).
    let target = match head {
        0 => Checkpoint::START,
        head => source.checkpoint_of(head).await?.unwrap_or(Checkpoint::START),
    };
    let types = Identity::of::<P>().event_types;
    let total = source.progress(Checkpoint::START, types).await?.readable;
    chronicle::rebuild_detached(store, &make()).await?;
    let bar = progress_bar(total);
    let mut local: Option<ProjectionHandle<P, S>> = None;
    let outcome = follow(source, store, make, target, &bar, &mut local).await;
    bar.finish_and_clear();
    let ran_here = local.is_some();
    if let Some(handle) = local {
        handle.stop().await.into_result()?;
    }
    outcome?;
    Ok(Rebuilt {
        projection: P::NAME,
        version: P::VERSION,
        through: head,
        events: total,
        seconds: started.elapsed().as_secs_f64(),
        ran_here,
    })
}

/// A bar of the projection's events to replay, drawn on standard error when it is a terminal.
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} events, {per_sec}, ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Watches the checkpoint until it reaches `target`, starting a runner here whenever none leads.
async fn follow<P, S>(
    source: &S,
    store: &P::Store,
    make: fn() -> P,
    target: Checkpoint,
    bar: &ProgressBar,
    local: &mut Option<ProjectionHandle<P, S>>,
) -> Result<(), CliError>
where
    P: Projection,
    S: EventSource + Clone,
{
    let types = Identity::of::<P>().event_types;
    let total = bar.length().unwrap_or(0);
    let mut last = (Checkpoint::START, Instant::now());
    let mut counted: Option<(Checkpoint, Instant)> = None;
    loop {
        let row = store.read_checkpoint(P::NAME).await?;
        let checkpoint = row
            .filter(|row| row.version == P::VERSION)
            .map_or(Checkpoint::START, |row| row.checkpoint);
        if checkpoint >= target {
            return Ok(());
        }
        if checkpoint != last.0 {
            last = (checkpoint, Instant::now());
            let due = counted.is_none_or(|(at, when)| at != checkpoint && when.elapsed() >= COUNT_EVERY);
            if due {
                counted = Some((checkpoint, Instant::now()));
                let left = source.progress(checkpoint, types).await?.readable;
                bar.set_position(total.saturating_sub(left));
            }
        } else if local.is_none() && last.1.elapsed() >= STALL {
            let holder = store
                .holder(P::NAME)
                .await?
                .unwrap_or_else(|| "nobody".to_owned());
            return Err(CliError::Invalid(format!(
                "{} has not moved for {} s while {holder} holds its claim: is that runner stuck, \
                 or of a version that does not see rebuilds from here?",
                P::NAME,
                STALL.as_secs()
            )));
        }
        if local.as_ref().is_some_and(|handle| handle.is_finished()) {
            if let Some(handle) = local.take() {
                handle.join().await?;
            }
            return Err(CliError::Invalid(format!("the runner of {} stopped", P::NAME)));
        }
        if local.is_none() && store.holder(P::NAME).await?.is_none() {
            bar.println(format!(
                "no runner of {} is active: running one here until it has caught up",
                P::NAME
            ));
            *local = Some(ProjectionRunner::new(source.clone(), store.clone(), make()).spawn());
        }
        tokio::time::sleep(POLL).await;
    }
}
