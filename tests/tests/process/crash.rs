//! The transfer process's runner crashed at every step of three transfers (one that completes,
//! one the overdraft rule fails, one whose credit is refused and refunded): before and after each
//! command, after each recorded step, and before a batch's checkpoint commits. A new runner then
//! takes over; every transfer ends completed or compensated, and no command is applied twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bank::transfer::{TransferProcess, TransferState};
use chronicle::{
    process_runner, Chronicle, CrashPoint, EventSource, EventStore, PostgresReadStore, ProcessProjection,
    ProjectionError, ProjectionRunner, ReadStore, SqliteReadStore,
};
use chronicle_tests::support::{postgres_store, sqlite_store_in, TempFile};
use chronicle_tests::wait::until;

use super::{account_events, balance, ended, open, quick, request, END};

const NEVER: Duration = Duration::from_secs(3600);

/// The accounts and transfers every run starts from, requested before any runner starts, so
/// that each run meets the same steps in the same order.
async fn prepare<S: EventStore>(chronicle: &Chronicle<S>) {
    open(chronicle, "a", 100, 0).await;
    open(chronicle, "b", 0, 0).await;
    open(chronicle, "c", 100, 0).await;
    request(chronicle, "ok", ("a", "b"), 60, NEVER).await;
    request(chronicle, "over", ("c", "b"), 500, NEVER).await;
    request(chronicle, "refused", ("a", "nobody"), 20, NEVER).await;
}

/// Every transfer ended as it should, and each command was applied once.
async fn check_outcome<S: EventStore>(chronicle: &Chronicle<S>, run: &str) {
    assert_eq!(ended(chronicle, "ok").await, TransferState::Completed, "{run}");
    assert_eq!(ended(chronicle, "over").await, TransferState::Failed, "{run}");
    assert_eq!(ended(chronicle, "refused").await, TransferState::Failed, "{run}");
    let balances = (
        balance(chronicle, "a").await,
        balance(chronicle, "b").await,
        balance(chronicle, "c").await,
    );
    assert_eq!(balances, (40, 60, 100), "{run}");
    let store = chronicle.store();
    for stream in [
        "bank.Account-a",
        "bank.Account-b",
        "bank.Account-c",
        "bank.Transfer-ok",
        "bank.Transfer-over",
        "bank.Transfer-refused",
    ] {
        let events = store.read_stream(stream, 0).await.unwrap();
        let mut commands: HashMap<uuid::Uuid, usize> = HashMap::new();
        for event in &events {
            *commands.entry(event.metadata.command_id).or_default() += 1;
        }
        assert!(
            commands.values().all(|n| *n == 1),
            "{run}: a command applied twice on {stream}"
        );
        let terminal = events
            .iter()
            .filter(|e| {
                matches!(
                    e.event_type.as_str(),
                    "bank.TransferCompleted" | "bank.TransferFailed"
                )
            })
            .count();
        if stream.starts_with("bank.Transfer-") {
            assert_eq!(terminal, 1, "{run}: {stream} ended {terminal} times");
        }
    }
    let a = account_events(chronicle, "a").await;
    let count = |t: &str| a.iter().filter(|e| *e == t).count();
    assert_eq!(
        (count("bank.TransferDebited"), count("bank.TransferRefunded")),
        (2, 1),
        "{run}: {a:?}"
    );
}

/// A runner of the transfer process that crashes at the `crash_at`-th crash point it reaches;
/// `reached` counts them.
fn crashing<S: EventSource, R: ReadStore>(
    chronicle: &Chronicle<S>,
    views: R,
    crash_at: Option<usize>,
    reached: Arc<AtomicUsize>,
) -> ProjectionRunner<ProcessProjection<TransferProcess, S, R>, S> {
    let projection =
        ProcessProjection::<TransferProcess, S, R>::new(chronicle.clone()).crash_at(move |_: &CrashPoint| {
            let index = reached.fetch_add(1, Ordering::SeqCst);
            Some(index) == crash_at
        });
    quick(ProjectionRunner::new(
        chronicle.store().clone(),
        views,
        projection,
    ))
}

/// Runs the transfers with a crash at every crash point in turn (and once before a checkpoint),
/// each run on a fresh store from `fresh`.
async fn crash_everywhere<S, R, F, Fut>(fresh: F)
where
    S: EventSource,
    R: ReadStore,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (Chronicle<S>, R, Box<dyn std::any::Any + Send>)>,
{
    // A run without a crash counts the points.
    let (chronicle, views, _keep) = fresh().await;
    prepare(&chronicle).await;
    let reached = Arc::new(AtomicUsize::new(0));
    let runner = crashing(&chronicle, views, None, reached.clone()).spawn();
    check_outcome(&chronicle, "no crash").await;
    runner.stop().await.into_result().unwrap();
    let points = reached.load(Ordering::SeqCst);
    assert!(points >= 15, "only {points} crash points in three transfers");

    for crash_at in 0..points {
        let run = format!("crash at point {crash_at} of {points}");
        let (chronicle, views, _keep) = fresh().await;
        prepare(&chronicle).await;
        let runner = crashing(
            &chronicle,
            views.clone(),
            Some(crash_at),
            Arc::new(AtomicUsize::new(0)),
        )
        .spawn();
        until(&run, END, || runner.is_finished()).await;
        let error = runner.join().await.unwrap_err();
        assert!(
            matches!(error, ProjectionError::Panicked { .. }),
            "{run}: {error}"
        );
        let restarted = quick(process_runner::<TransferProcess, _, _>(chronicle.clone(), views)).spawn();
        check_outcome(&chronicle, &run).await;
        restarted.stop().await.into_result().unwrap();
    }

    // Before a checkpoint: the batch's steps were taken, its checkpoint is not committed.
    let (chronicle, views, _keep) = fresh().await;
    prepare(&chronicle).await;
    let crashed = Arc::new(AtomicUsize::new(0));
    let runner = quick(process_runner::<TransferProcess, _, _>(
        chronicle.clone(),
        views.clone(),
    ))
    .crash_before_commit(move |_| crashed.fetch_add(1, Ordering::SeqCst) == 0)
    .spawn();
    until("the crash before the checkpoint", END, || runner.is_finished()).await;
    let error = runner.join().await.unwrap_err();
    assert!(matches!(error, ProjectionError::SimulatedCrash { .. }), "{error}");
    let restarted = quick(process_runner::<TransferProcess, _, _>(chronicle.clone(), views)).spawn();
    check_outcome(&chronicle, "crash before the checkpoint").await;
    restarted.stop().await.into_result().unwrap();
}

#[tokio::test]
async fn on_sqlite_every_transfer_ends_completed_or_compensated() {
    crash_everywhere(|| async {
        let file = TempFile::new("process-crash");
        let store = sqlite_store_in(&file).await;
        let views = SqliteReadStore::from_pool(store.pool().clone());
        views.migrate().await.unwrap();
        (
            Chronicle::new(store),
            views,
            Box::new(file) as Box<dyn std::any::Any + Send>,
        )
    })
    .await;
}

#[tokio::test]
async fn on_postgres_every_transfer_ends_completed_or_compensated() {
    crash_everywhere(|| async {
        let store = postgres_store().await;
        let views = PostgresReadStore::beside(&store);
        views.migrate().await.unwrap();
        (
            Chronicle::new(store),
            views,
            Box::new(()) as Box<dyn std::any::Any + Send>,
        )
    })
    .await;
}
