//! The bank's transfer process on SQLite and on Postgres: each scenario runs on both.

use std::time::Duration;

use bank::transfer::{ApproveTransfer, TransferError, TransferProcess, TransferState};
use bank::{TransferCredited, TransferDebited};
use chronicle::{
    process_runner, Chronicle, CommandError, EventSource, EventStore, ProcessManager, ReadStore,
};
use chronicle_tests::support::{postgres_store, sqlite_store_in, TempFile};
use chronicle_tests::wait::eventually;

use super::{account_events, balance, ended, open, quick, request, END};

/// Long enough never to close during a test.
const NEVER: Duration = Duration::from_secs(3600);

/// Runs `$scenario(chronicle, read_store)` on SQLite and on Postgres.
macro_rules! on_both {
    ($scenario:ident) => {
        mod $scenario {
            use chronicle::{Chronicle, PostgresReadStore, SqliteReadStore};

            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let file = TempFile::new("process");
                let store = sqlite_store_in(&file).await;
                let views = SqliteReadStore::from_pool(store.pool().clone());
                views.migrate().await.unwrap();
                super::$scenario(Chronicle::new(store), views).await;
            }

            #[tokio::test]
            async fn postgres() {
                let store = postgres_store().await;
                let views = PostgresReadStore::beside(&store);
                views.migrate().await.unwrap();
                super::$scenario(Chronicle::new(store), views).await;
            }
        }
    };
}

on_both!(completes);
on_both!(the_overdraft_rule_fails_it);
on_both!(a_refused_credit_is_refunded);
on_both!(an_approval_in_time_cancels_the_deadline);
on_both!(an_approval_that_does_not_come_refunds);
on_both!(a_deadline_survives_a_restart);

async fn completes<S: EventSource, R: ReadStore>(chronicle: Chronicle<S>, views: R) {
    open(&chronicle, "a", 100, 0).await;
    open(&chronicle, "b", 0, 0).await;
    let runner = quick(process_runner::<TransferProcess, _, _>(chronicle.clone(), views)).spawn();
    let requested = request(&chronicle, "t1", ("a", "b"), 60, NEVER).await;

    assert_eq!(ended(&chronicle, "t1").await, TransferState::Completed);
    assert_eq!(
        (balance(&chronicle, "a").await, balance(&chronicle, "b").await),
        (40, 60)
    );

    // The request's correlation id reaches every event the transfer caused, on three streams;
    // each command the process sent was caused by the event it reacted to.
    let store = chronicle.store();
    let request_event = &store.read_stream("bank.Transfer-t1", 0).await.unwrap()[0];
    let correlation = request_event.metadata.correlation_id;
    let caused = store.read_by_correlation(correlation).await.unwrap();
    let types: Vec<&str> = caused.iter().map(|e| e.event_type.as_str()).collect();
    for expected in [
        "bank.TransferRequested",
        "bank.TransferDebited",
        "bank.TransferCredited",
        "bank.TransferCompleted",
    ] {
        assert!(types.contains(&expected), "{expected} not among {types:?}");
    }
    let debited = caused
        .iter()
        .find(|e| e.event_type == "bank.TransferDebited")
        .unwrap();
    assert_eq!(debited.metadata.causation_id, request_event.event_id);
    assert_eq!(
        debited.metadata.command_id,
        request_event
            .reaction(TransferProcess::NAME, 0)
            .into_metadata()
            .command_id,
        "the debit's command id is derived from the request event"
    );
    let credited = caused
        .iter()
        .find(|e| e.event_type == "bank.TransferCredited")
        .unwrap();
    assert_eq!(credited.metadata.causation_id, debited.event_id);
    assert_eq!(requested.stream_id, "bank.Transfer-t1");

    // The process's own stream: one step per input, the last one finishing it.
    let steps = store.read_stream("bank.transfer_process-t1", 0).await.unwrap();
    assert!(steps
        .iter()
        .all(|step| step.event_type == TransferProcess::STEP_EVENT));
    let last: serde_json::Value = serde_json::from_str(steps.last().unwrap().payload.get()).unwrap();
    let finished = steps.iter().any(|step| {
        serde_json::from_str::<serde_json::Value>(step.payload.get()).unwrap()["finished"] == true
    });
    assert!(finished, "no step finished the process: {last}");
    assert_eq!(
        step_kinds(&chronicle, "t1").await,
        ["event", "outcomes", "event", "outcomes", "event", "outcomes"],
        "requested, debited and credited, each step followed by its commands' outcomes"
    );
    runner.stop().await.into_result().unwrap();
}

async fn the_overdraft_rule_fails_it<S: EventSource, R: ReadStore>(chronicle: Chronicle<S>, views: R) {
    open(&chronicle, "a", 100, 50).await;
    open(&chronicle, "b", 0, 0).await;
    let runner = quick(process_runner::<TransferProcess, _, _>(chronicle.clone(), views)).spawn();
    request(&chronicle, "t1", ("a", "b"), 151, NEVER).await;
    assert_eq!(ended(&chronicle, "t1").await, TransferState::Failed);
    assert_eq!(
        (balance(&chronicle, "a").await, balance(&chronicle, "b").await),
        (100, 0)
    );
    let failed = chronicle
        .store()
        .read_stream("bank.Transfer-t1", 0)
        .await
        .unwrap();
    let reason: serde_json::Value = serde_json::from_str(failed.last().unwrap().payload.get()).unwrap();
    assert!(
        reason["reason"].as_str().unwrap().contains("below -50"),
        "the overdraft rule's message is the reason: {reason}"
    );
    runner.stop().await.into_result().unwrap();
}

async fn a_refused_credit_is_refunded<S: EventSource, R: ReadStore>(chronicle: Chronicle<S>, views: R) {
    open(&chronicle, "a", 100, 0).await;
    let runner = quick(process_runner::<TransferProcess, _, _>(chronicle.clone(), views)).spawn();
    request(&chronicle, "t1", ("a", "nobody"), 70, NEVER).await;
    assert_eq!(ended(&chronicle, "t1").await, TransferState::Failed);
    assert_eq!(balance(&chronicle, "a").await, 100, "the debit was paid back");
    let account = account_events(&chronicle, "a").await;
    assert_eq!(
        account,
        [
            "bank.AccountOpened",
            "bank.MoneyDeposited",
            "bank.TransferDebited",
            "bank.TransferRefunded"
        ]
    );
    runner.stop().await.into_result().unwrap();
}

async fn an_approval_in_time_cancels_the_deadline<S: EventSource, R: ReadStore>(
    chronicle: Chronicle<S>,
    views: R,
) {
    open(&chronicle, "a", 50_000, 0).await;
    open(&chronicle, "b", 0, 0).await;
    let runner = quick(process_runner::<TransferProcess, _, _>(chronicle.clone(), views)).spawn();
    request(&chronicle, "t1", ("a", "b"), 20_000, Duration::from_secs(3)).await;
    // Approved once the debit is through (the process is waiting for it then).
    eventually("the debit", END, || async {
        debited(&chronicle, "a").await.then_some(())
    })
    .await;
    chronicle
        .execute(ApproveTransfer {
            transfer_id: "t1".to_owned(),
            approved_by: "manager".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(ended(&chronicle, "t1").await, TransferState::Completed);
    // Past the window: the cancelled deadline does not come back to a finished process.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        (balance(&chronicle, "a").await, balance(&chronicle, "b").await),
        (30_000, 20_000)
    );
    let kinds = step_kinds(&chronicle, "t1").await;
    assert!(
        !kinds.contains(&"deadline".to_owned()),
        "no deadline step: {kinds:?}"
    );
    runner.stop().await.into_result().unwrap();
}

async fn an_approval_that_does_not_come_refunds<S: EventSource, R: ReadStore>(
    chronicle: Chronicle<S>,
    views: R,
) {
    open(&chronicle, "a", 50_000, 0).await;
    open(&chronicle, "b", 0, 0).await;
    let runner = quick(process_runner::<TransferProcess, _, _>(chronicle.clone(), views)).spawn();
    request(&chronicle, "t1", ("a", "b"), 20_000, Duration::from_secs(1)).await;
    assert_eq!(ended(&chronicle, "t1").await, TransferState::Failed);
    assert_eq!(
        (balance(&chronicle, "a").await, balance(&chronicle, "b").await),
        (50_000, 0)
    );
    let late = chronicle
        .execute(ApproveTransfer {
            transfer_id: "t1".to_owned(),
            approved_by: "manager".to_owned(),
        })
        .await;
    assert!(
        matches!(late, Err(CommandError::Rejected(TransferError::Over(_)))),
        "{late:?}"
    );
    let kinds = step_kinds(&chronicle, "t1").await;
    let deadline_steps = kinds.iter().filter(|kind| *kind == "deadline").count();
    assert_eq!(deadline_steps, 1, "the deadline fired once: {kinds:?}");
    runner.stop().await.into_result().unwrap();
}

async fn a_deadline_survives_a_restart<S: EventSource, R: ReadStore>(chronicle: Chronicle<S>, views: R) {
    open(&chronicle, "a", 50_000, 0).await;
    open(&chronicle, "b", 0, 0).await;
    let runner = quick(process_runner::<TransferProcess, _, _>(
        chronicle.clone(),
        views.clone(),
    ))
    .spawn();
    request(&chronicle, "t1", ("a", "b"), 20_000, Duration::from_secs(2)).await;
    eventually("the debit", END, || async {
        debited(&chronicle, "a").await.then_some(())
    })
    .await;
    runner.stop().await.into_result().unwrap();
    // Nothing runs while the window closes; a new runner finds the deadline in the log.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!credited_or_refunded(&chronicle, "a").await);
    let runner = quick(process_runner::<TransferProcess, _, _>(chronicle.clone(), views)).spawn();
    assert_eq!(ended(&chronicle, "t1").await, TransferState::Failed);
    assert_eq!(balance(&chronicle, "a").await, 50_000);
    runner.stop().await.into_result().unwrap();
}

async fn debited<S: EventStore>(chronicle: &Chronicle<S>, account: &str) -> bool {
    let events = account_events(chronicle, account).await;
    events
        .iter()
        .any(|t| t == <TransferDebited as chronicle::Event>::NAME)
}

async fn credited_or_refunded<S: EventStore>(chronicle: &Chronicle<S>, account: &str) -> bool {
    let events = account_events(chronicle, account).await;
    events
        .iter()
        .any(|t| t == <TransferCredited as chronicle::Event>::NAME || t == "bank.TransferRefunded")
}

/// What each step of the transfer's process reacted to: `event`, `outcomes` or `deadline`.
async fn step_kinds<S: EventStore>(chronicle: &Chronicle<S>, transfer: &str) -> Vec<String> {
    let steps = chronicle
        .store()
        .read_stream(&format!("bank.transfer_process-{transfer}"), 0)
        .await
        .unwrap();
    steps
        .iter()
        .map(|step| {
            let record: serde_json::Value = serde_json::from_str(step.payload.get()).unwrap();
            record["input"]["kind"].as_str().unwrap().to_owned()
        })
        .collect()
}
