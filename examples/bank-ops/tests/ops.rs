//! `bank-ops`, the bank's own binary embedding Chronicle's commands, run against a real Postgres
//! schema while the bank's balance view has a runner in this process (as a service would):
//! pause and resume seen by that runner, a rebuild replayed by it, a rebuild run by the command
//! itself when no runner leads, a replay into another schema, and bad input.

use std::process::Output;
use std::time::Duration;

use bank::views::{AccountBalances, BalanceOf};
use chronicle::prelude::*;
use chronicle::{ReadSide, RunnerState, SqlReadStore};
use chronicle_tests::command_line::{self, fails_with, json, stdout};
use chronicle_tests::support::{self, PgBank};
use chronicle_tests::wait::until;

const DEADLINE: Duration = Duration::from_secs(30);

/// Runs `bank-ops` on the test's schema.
fn ops(schema: &str, args: &[&str]) -> Output {
    let url = support::database_url();
    let mut all = vec!["--database-url", url.as_str(), "--schema", schema];
    all.extend_from_slice(args);
    command_line::run(env!("CARGO_BIN_EXE_bank-ops"), &all)
}

async fn balance(side: &ReadSide<PostgresStore, SqlReadStore>, account: &str) -> Option<i64> {
    let query = BalanceOf {
        account_id: account.to_owned(),
    };
    side.query(&AccountBalances, &query)
        .await
        .expect("the balance")
        .map(|row| row.balance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banks_binary_pauses_rebuilds_and_replays_its_views() {
    let bank = PgBank::new().await;
    let schema = bank.store.schema().to_owned();
    let views = SqlReadStore::from(support::postgres_read_store_beside(&bank.store).await);
    for account in ["ops-a", "ops-b"] {
        bank.open(account).await;
        for amount in 1..=10 {
            bank.deposit(account, amount).await;
        }
    }
    let side = ReadSide::new(bank.store.clone(), views.clone());
    let runner = side
        .runner(AccountBalances)
        .poll_interval(Duration::from_millis(100))
        .lease(Duration::from_millis(1500))
        .spawn();
    runner.wait_until_caught_up(DEADLINE).await.unwrap();

    let listed = json(&ops(&schema, &["projections", "--output", "json"]));
    assert_eq!(listed[0]["projection"], "bank.account_balances");
    assert_eq!(listed[1]["projection"], "bank.top_accounts");

    // Paused from the command line: the service's runner steps down, `status` says so.
    let paused = stdout(&ops(&schema, &["pause", "bank.account_balances"]));
    assert!(paused.contains("paused bank.account_balances"), "{paused}");
    until("the runner paused", DEADLINE, || {
        runner.state() == RunnerState::Paused
    })
    .await;
    let status = stdout(&ops(&schema, &["status"]));
    assert!(status.contains("paused: no runner applies events"), "{status}");
    fails_with(
        &ops(&schema, &["rebuild", "bank.account_balances"]),
        "bank.account_balances is paused: `resume` it first",
    );
    let resumed = json(&ops(
        &schema,
        &["resume", "bank.account_balances", "--output", "json"],
    ));
    assert_eq!(resumed["resumed"]["changed"], true);
    let receipt = bank.deposit("ops-a", 100).await;
    runner.wait_for(receipt.position, DEADLINE).await.unwrap();
    assert_eq!(balance(&side, "ops-a").await, Some(155));

    // Rebuilt while the service's runner leads: it replays the emptied view.
    let rebuilt = json(&ops(
        &schema,
        &["rebuild", "bank.account_balances", "--output", "json"],
    ));
    assert_eq!(rebuilt["rebuilt"]["ran_here"], false, "{rebuilt}");
    assert_eq!(rebuilt["rebuilt"]["through"], receipt.position.unwrap());
    assert_eq!(balance(&side, "ops-a").await, Some(155));
    assert_eq!(balance(&side, "ops-b").await, Some(55));
    runner.stop().await.into_result().unwrap();

    // No runner anywhere: the command runs one until the view has caught up.
    let rebuilt = stdout(&ops(&schema, &["rebuild", "bank.account_balances"]));
    assert!(rebuilt.contains("by a runner of this command"), "{rebuilt}");
    assert_eq!(balance(&side, "ops-b").await, Some(55));

    // The view as it was after ops-a's fifth deposit, in a schema of its own.
    let log = bank.store.read_all(0, 1000).await.unwrap();
    let fifth = log
        .iter()
        .filter(|event| event.stream_id.ends_with("ops-a"))
        .nth(5)
        .unwrap()
        .position;
    let into = format!("{schema}_replay");
    let replayed = json(&ops(
        &schema,
        &[
            "replay",
            "bank.account_balances",
            "--into",
            &into,
            "--until-position",
            &fifth.to_string(),
            "--output",
            "json",
        ],
    ));
    assert_eq!(replayed["replayed"]["applied"], 6, "{replayed}");
    let past = ReadSide::new(
        bank.store.clone(),
        SqlReadStore::from(PostgresReadStore::beside(&bank.store).with_schema(&into).unwrap()),
    );
    let then = past
        .query(
            &AccountBalances,
            &BalanceOf {
                account_id: "ops-a".into(),
            },
        )
        .await
        .unwrap()
        .map(|row| row.balance);
    assert_eq!(then, Some(15));

    // Bad input: one line, a non-zero exit.
    fails_with(
        &ops(&schema, &["rebuild", "nosuch"]),
        "no projection `nosuch` is registered",
    );
    fails_with(
        &ops(&schema, &["replay", "bank.account_balances", "--into", &into]),
        "--until-position N or --as-of TIME",
    );
    fails_with(
        &ops(
            &schema,
            &[
                "replay",
                "bank.account_balances",
                "--into",
                &into,
                "--as-of",
                "yesterday",
            ],
        ),
        "`yesterday` is not a time",
    );
    fails_with(
        &ops(
            &schema,
            &[
                "replay",
                "bank.account_balances",
                "--into",
                &schema,
                "--until-position",
                "1",
            ],
        ),
        "holds the live read model",
    );
}

/// `event-schema check` passes on the lock file the bank commits, and fails on one recorded by a
/// release whose deposit amount was text, naming the event, version and field; `update` records.
#[test]
fn the_banks_binary_runs_the_event_schema_gate() {
    let file = support::TempFile::new("bank-ops-gate");
    let url = format!("sqlite:{}", file.path().display());
    let committed = concat!(env!("CARGO_MANIFEST_DIR"), "/../bank/events.lock.json");
    let run = |args: &[&str]| {
        let mut all = vec!["--database-url", url.as_str()];
        all.extend_from_slice(args);
        command_line::run(env!("CARGO_BIN_EXE_bank-ops"), &all)
    };
    let passed = stdout(&run(&["event-schema", "check", "--lock", committed]));
    assert!(passed.contains("10 event shapes agree with"), "{passed}");

    let lock = support::TempFile::new("bank-ops-lock");
    let lock_path = lock.path().display().to_string();
    let altered = std::fs::read_to_string(committed)
        .expect("the committed lock")
        .replacen(
            "\"format\": \"int64\",\n              \"type\": \"integer\"",
            "\"type\": \"string\"",
            1,
        );
    std::fs::write(lock.path(), altered).expect("an altered lock");
    let refused = run(&["event-schema", "check", "--lock", &lock_path]);
    fails_with(&refused, "the events disagree with the lock file");
    let report = String::from_utf8_lossy(&refused.stdout);
    for expected in [
        "`bank.AccountOpened` version 1 (`bank::AccountOpened`) changed its stored shape without a new version",
        "field `overdraft_limit` retyped: was {\"type\":\"string\"}, is {\"format\":\"int64\",\"type\":\"integer\"}",
        "bump it to `version = 2`",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
    }
    let recorded = json(&run(&[
        "event-schema",
        "update",
        "--lock",
        &lock_path,
        "--output",
        "json",
    ]));
    assert_eq!(recorded["ok"], true, "{recorded}");
    assert_eq!(
        std::fs::read_to_string(lock.path()).unwrap(),
        std::fs::read_to_string(committed).unwrap(),
        "update records exactly what the bank commits"
    );
}
