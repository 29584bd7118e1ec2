//! The `chronicle` binary run against real databases: a Postgres schema with the bank's events
//! and a projection's checkpoint, and a SQLite file; its output (tables and JSON) and its exit
//! codes, bad input included.

use std::process::Output;
use std::time::Duration;

use bank::views::postgres::AccountBalances;
use chronicle::prelude::*;
use chronicle::{CommandContext, EventSource, ProjectionRunner};
use chronicle_tests::command_line::{self, fails_with, json, stdout};
use chronicle_tests::support::{self, PgBank, TempFile};
use chronicle_tests::wait::eventually;
use serde_json::Value;
use uuid::Uuid;

/// Runs the `chronicle` binary with `args`.
fn chronicle(args: &[&str]) -> Output {
    command_line::run(env!("CARGO_BIN_EXE_chronicle"), args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_streams_and_traces_of_a_postgres_log() {
    let bank = PgBank::new().await;
    let url = support::database_url();
    let schema = bank.store.schema().to_owned();
    let opened = bank.open("cli-a").await;
    bank.deposit("cli-a", 70).await;
    // A transfer-like pair: a deposit on another account caused by the first one's event.
    let first = bank.bank.store().read_stream(&opened.stream_id, 0).await.unwrap();
    let correlation = first[0].metadata.correlation_id;
    bank.open("cli-b").await;
    let context = CommandContext::new()
        .correlation_id(correlation)
        .causation_id(first[0].event_id)
        .actor("ops@example.com");
    bank.bank
        .execute_with(
            bank::Deposit {
                account_id: "cli-b".into(),
                amount: 5,
            },
            context,
        )
        .await
        .unwrap();

    let read = support::postgres_read_store_beside(&bank.store).await;
    let runner = ProjectionRunner::new(bank.store.clone(), read.clone(), AccountBalances).spawn();
    runner
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .unwrap();
    runner.stop().await.into_result().unwrap();
    let base = ["--database-url", url.as_str(), "--schema", schema.as_str()];
    let with = |more: &[&str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(more.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |args: Vec<String>| chronicle(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // status: the head, the projection at it, nothing behind.
    let head = bank.store.head().await.unwrap().position.unwrap();
    let status = json(&run(with(&["status", "--output", "json"])));
    assert_eq!(status["head_position"], head);
    assert_eq!(status["event_count"], 4, "two openings, two deposits");
    let balances = &status["projections"][0];
    assert_eq!(balances["projection"], "bank.account_balances");
    assert_eq!(balances["position"], head);
    assert_eq!(balances["events_behind"], 0);
    assert_eq!(balances["holder"], Value::Null, "stopped: nobody holds it");
    // One more deposit, and the projection is one event behind.
    bank.deposit("cli-a", 1).await;
    let status = json(&run(with(&["status", "--output", "json"])));
    assert_eq!(status["projections"][0]["events_behind"], 1);
    let table = stdout(&run(with(&["status"])));
    assert!(table.contains("bank.account_balances"), "{table}");
    // The first line as the book shows it.
    let first_line = table.lines().next().unwrap();
    let expected = format!(
        "log: {url} (schema `{schema}`) at position {} (5 events), last event ",
        head + 1
    );
    assert!(first_line.starts_with(&expected), "{first_line}");

    // streams ls: both accounts, a page at a time, by aggregate.
    let page = json(&run(with(&["streams", "ls", "--output", "json"])));
    let ids: Vec<&str> = page["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stream_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["bank.Account-cli-a", "bank.Account-cli-b"]);
    assert_eq!(page["streams"][0]["version"], 3);
    assert_eq!(page["next_after"], Value::Null);
    let first_page = json(&run(with(&[
        "streams",
        "ls",
        "--aggregate",
        "bank.Account",
        "--limit",
        "1",
        "--output",
        "json",
    ])));
    assert_eq!(first_page["streams"].as_array().unwrap().len(), 1);
    assert_eq!(first_page["next_after"], "bank.Account-cli-a");
    let second_page = json(&run(with(&[
        "streams",
        "ls",
        "--after",
        "bank.Account-cli-a",
        "--limit",
        "1",
        "--output",
        "json",
    ])));
    assert_eq!(second_page["streams"][0]["stream_id"], "bank.Account-cli-b");
    let none = json(&run(with(&[
        "streams",
        "ls",
        "--aggregate",
        "bank.Order",
        "--output",
        "json",
    ])));
    assert_eq!(none["streams"], Value::Array(Vec::new()));
    let table = stdout(&run(with(&["streams", "ls", "--limit", "1"])));
    assert!(
        table.contains("bank.Account-cli-a") && table.contains("more: --after 'bank.Account-cli-a'"),
        "{table}"
    );
    fails_with(
        &run(with(&["streams", "ls", "--aggregate", "a-b"])),
        "is not an aggregate name",
    );
    let refused = run(with(&["streams", "ls", "--limit", "0"]));
    assert_eq!(refused.status.code(), Some(2), "clap refuses it with its usage");

    // streams show: every event, up to a version, as of a time before the first.
    let stream = opened.stream_id.as_str();
    let mut args = with(&["streams", "show"]);
    args.push(stream.to_owned());
    let events = json(&run(
        [args.clone(), vec!["--output".into(), "json".into()]].concat()
    ));
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["event_type"], "bank.AccountOpened");
    assert_eq!(events[1]["payload"]["amount"], 70);
    assert!(events[1]["metadata"]["command_id"].as_str().is_some());
    let upto = json(&run([
        args.clone(),
        vec![
            "--at-version".into(),
            "2".into(),
            "--output".into(),
            "json".into(),
        ],
    ]
    .concat()));
    assert_eq!(upto.as_array().unwrap().len(), 2);
    let before = json(&run([
        args.clone(),
        vec![
            "--as-of".into(),
            "2000-01-01T00:00:00Z".into(),
            "--output".into(),
            "json".into(),
        ],
    ]
    .concat()));
    assert_eq!(before.as_array().unwrap().len(), 0);
    let table = stdout(&run(args.clone()));
    assert!(
        table.contains("bank.MoneyDeposited v1") && table.contains("\"amount\": 70"),
        "{table}"
    );

    // trace: the opening's command, and under it the deposit it caused.
    let mut args = with(&["trace"]);
    args.push(correlation.to_string());
    let trace = json(&run(
        [args.clone(), vec!["--output".into(), "json".into()]].concat()
    ));
    let commands = trace["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[0]["caused_by_command"], Value::Null);
    assert_eq!(commands[1]["caused_by_command"], commands[0]["command_id"]);
    assert_eq!(commands[1]["caused_by_event"], first[0].event_id.to_string());
    assert_eq!(commands[1]["actor"], "ops@example.com");
    let tree = stdout(&run(args));
    assert_eq!(
        tree.lines().next().unwrap(),
        format!("correlation {correlation}: 2 events of 2 commands"),
        "the first line as the book shows it"
    );
    assert!(
        tree.contains("\n  command "),
        "the caused command indented: {tree}"
    );

    // Bad input: one clear line and a failure, never a panic.
    fails_with(
        &run(with(&["streams", "show", "account-nosuch"])),
        "no stream `account-nosuch`",
    );
    fails_with(&run(with(&["streams", "show", ""])), "invalid stream id");
    fails_with(
        &run([
            with(&["streams", "show"]),
            vec![stream.to_owned(), "--as-of".into(), "yesterday".into()],
        ]
        .concat()),
        "is not a time",
    );
    fails_with(&run(with(&["trace", "not-a-uuid"])), "is not a correlation id");
    fails_with(
        &run(with(&["trace", &Uuid::nil().to_string()])),
        "no event carries",
    );
    fails_with(&chronicle(&["status"]), "no database");
    fails_with(
        &chronicle(&["--database-url", "postgres://postgres@127.0.0.1:1/none", "status"]),
        "cannot connect",
    );
    fails_with(
        &chronicle(&["--database-url", "mysql://root@127.0.0.1/test", "status"]),
        "cannot use",
    );
    fails_with(
        &run(vec![
            "--database-url".into(),
            url.clone(),
            "--schema".into(),
            "bad\"schema".into(),
            "status".into(),
        ]),
        "invalid Postgres schema name",
    );
    let empty = support::fresh_schema_name();
    fails_with(
        &run(vec![
            "--database-url".into(),
            url.clone(),
            "--schema".into(),
            empty.clone(),
            "status".into(),
        ]),
        "chronicle migrate",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_tables_and_a_dry_run_only_prints_them() {
    let url = support::database_url();
    let schema = support::fresh_schema_name();
    let dry = stdout(&chronicle(&[
        "--database-url",
        &url,
        "--schema",
        &schema,
        "migrate",
        "--dry-run",
    ]));
    assert!(dry.contains(&format!("\"{schema}\".chronicle_events")), "{dry}");
    assert!(
        dry.contains(&format!("\"{schema}\".chronicle_subject_keys")),
        "the key table is in the dry run: {dry}"
    );
    assert!(dry.contains("chronicle_checkpoints"), "{dry}");
    // Nothing ran: the schema is still not a log.
    fails_with(
        &chronicle(&["--database-url", &url, "--schema", &schema, "status"]),
        "chronicle migrate",
    );
    let done = json(&chronicle(&[
        "--database-url",
        &url,
        "--schema",
        &schema,
        "migrate",
        "--output",
        "json",
    ]));
    assert!(done["migrated"].as_str().unwrap().contains(&schema));
    let status = json(&chronicle(&[
        "--database-url",
        &url,
        "--schema",
        &schema,
        "status",
        "--output",
        "json",
    ]));
    assert_eq!(status["head_position"], Value::Null);
    assert_eq!(status["event_count"], 0);
    assert_eq!(status["projections"], Value::Array(Vec::new()));
    support::drop_schema(&support::postgres_pool(1).await, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_is_migrated_then_read() {
    let file = TempFile::new("chronicle-cli");
    let url = format!("sqlite:{}", file.path().display());
    fails_with(
        &chronicle(&["--database-url", &url, "status"]),
        "no database file",
    );
    let dry = stdout(&chronicle(&["--database-url", &url, "migrate", "--dry-run"]));
    assert!(
        dry.contains("chronicle_subject_keys"),
        "the key table is in the dry run: {dry}"
    );
    assert!(
        dry.contains("chronicle_events") && !file.path().exists(),
        "a dry run creates nothing"
    );
    stdout(&chronicle(&["--database-url", &url, "migrate"]));
    let store = support::sqlite_store_in(&file).await;
    let bank = chronicle::Chronicle::new(store.clone());
    let receipt = bank
        .execute(bank::OpenAccount {
            account_id: "lite".into(),
            owner: "owner of lite".into(),
            overdraft_limit: 0,
        })
        .await
        .unwrap();
    let status = json(&chronicle(&[
        "--database-url",
        &url,
        "status",
        "--output",
        "json",
    ]));
    assert_eq!(status["head_position"], receipt.position.unwrap());
    let events = json(&chronicle(&[
        "--database-url",
        &url,
        "streams",
        "show",
        &receipt.stream_id,
        "--output",
        "json",
    ]));
    assert_eq!(events.as_array().unwrap().len(), 1);
    let streams = json(&chronicle(&[
        "--database-url",
        &url,
        "streams",
        "ls",
        "--output",
        "json",
    ]));
    assert_eq!(streams["streams"][0]["stream_id"], receipt.stream_id.as_str());
    assert_eq!(streams["streams"][0]["version"], 1);
    fails_with(
        &chronicle(&["--database-url", "sqlite:", "status"]),
        "names no database file",
    );
}

/// `chronicle events tail` and `chronicle dead-letters` on a Postgres log where the ledger view
/// refuses one stream's deposits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_the_log_and_dead_letters_are_listed_with_their_event() {
    use std::io::BufRead as _;

    use chronicle::{OnPoison, RetryPolicy};
    use chronicle_tests::ledger::Ledger;

    let bank = PgBank::new().await;
    let url = support::database_url();
    let schema = bank.store.schema().to_owned();
    bank.open("tail-a").await;
    let refused = bank.open("tail-b").await;
    bank.deposit("tail-a", 3).await;
    let poison = bank.deposit("tail-b", 4).await;
    let base = |more: &[&str]| -> Vec<String> {
        ["--database-url", url.as_str(), "--schema", schema.as_str()]
            .iter()
            .chain(more)
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| chronicle(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let lines = |output: &Output| -> Vec<Value> {
        stdout(output)
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    };

    // The whole log, then filtered.
    let all = lines(&run(base(&["events", "tail", "--output", "json"])));
    assert_eq!(all.len(), 4);
    assert!(all
        .windows(2)
        .all(|w| w[0]["position"].as_u64() < w[1]["position"].as_u64()));
    let deposits = lines(&run(base(&[
        "events",
        "tail",
        "--type",
        "bank.MoneyDeposited",
        "--output",
        "json",
    ])));
    assert_eq!(deposits.len(), 2);
    let of_b = lines(&run(base(&[
        "events",
        "tail",
        "--stream",
        &refused.stream_id,
        "--output",
        "json",
    ])));
    assert_eq!(of_b.len(), 2);
    let after = lines(&run(base(&["events", "tail", "--from", "2", "--output", "json"])));
    assert_eq!(after.len(), 2, "the events after position 2");
    fails_with(
        &run(base(&["events", "tail", "--from", "999"])),
        "no event at position 999",
    );
    fails_with(
        &run(base(&["events", "tail", "--correlation", "x"])),
        "is not a correlation id",
    );

    // --follow prints what is there, then each new event as it commits.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chronicle"))
        .args(base(&["events", "tail", "--from", "4", "--follow"]))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the tail");
    let (sender, received) = std::sync::mpsc::channel();
    let reader = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let live = bank.deposit("tail-a", 9).await;
    let line = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the new event within 10 s");
    assert!(
        line.starts_with(&format!("#{} ", live.position.unwrap())),
        "{line}"
    );
    assert!(line.contains("\"amount\": 9"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();

    // A ledger that refuses tail-b's deposits, dead-lettering it.
    let read = support::postgres_read_store_beside(&bank.store).await;
    let ledger = Ledger {
        refuse_stream: Some(refused.stream_id.clone()),
    };
    let runner = ProjectionRunner::new(bank.store.clone(), read.clone(), ledger)
        .retry(RetryPolicy::new(2, Duration::from_millis(5)))
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    runner
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .unwrap();
    runner.stop().await.into_result().unwrap();
    let letters = json(&run(base(&["dead-letters", "ls", "--output", "json"])));
    let letters = letters.as_array().unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["projection"], "test.ledger");
    assert_eq!(letters[0]["position"], poison.position.unwrap());
    assert!(
        letters[0]["error"]
            .as_str()
            .unwrap()
            .contains("refusing deposits"),
        "{letters:?}"
    );
    let position = poison.position.unwrap().to_string();
    let shown = json(&run(base(&[
        "dead-letters",
        "show",
        "test.ledger",
        &position,
        "--output",
        "json",
    ])));
    assert_eq!(shown["event"]["payload"]["amount"], 4);
    assert_eq!(shown["dead_letter"]["stream_id"], refused.stream_id.as_str());
    let table = stdout(&run(base(&["dead-letters", "show", "test.ledger", &position])));
    assert!(table.contains("could not apply the event at position"), "{table}");
    fails_with(
        &run(base(&["dead-letters", "show", "test.ledger", "1"])),
        "no dead letter at position 1",
    );
    fails_with(
        &run(base(&["dead-letters", "ls", "--projection", "nosuch"])),
        "no projection `nosuch`",
    );
    // A retry is asked for and shows in the list; a runner answers it (the ledger still refuses:
    // the letter stays with the retry's error, and no request is left).
    let asked = json(&run(base(&[
        "dead-letters",
        "retry",
        "test.ledger",
        &position,
        "--output",
        "json",
    ])));
    assert_eq!(asked["retry_requested"]["position"], poison.position.unwrap());
    let letters = json(&run(base(&["dead-letters", "ls", "--output", "json"])));
    assert!(letters[0]["retry_requested_at"].is_string(), "{letters}");
    assert!(stdout(&run(base(&["dead-letters", "ls"]))).contains("retry asked"));
    fails_with(
        &run(base(&["dead-letters", "retry", "test.ledger", "1"])),
        "no dead letter at position 1",
    );
    let runner = ProjectionRunner::new(
        bank.store.clone(),
        read.clone(),
        Ledger {
            refuse_stream: Some(refused.stream_id.clone()),
        },
    )
    .on_poison(OnPoison::DeadLetter)
    .lease(Duration::from_millis(1500))
    .spawn();
    let answered = eventually("the retry answered", Duration::from_secs(30), || async {
        let letters = runner.dead_letters().await.ok()?;
        letters
            .into_iter()
            .find(|letter| letter.retry_requested_at.is_none() && letter.error.starts_with("retried: "))
    })
    .await;
    assert!(answered.error.contains("refusing deposits"), "{}", answered.error);
    runner.stop().await.into_result().unwrap();

    // Skipped: gone from the list, and a second skip finds nothing.
    let skipped = json(&run(base(&[
        "dead-letters",
        "skip",
        "test.ledger",
        &position,
        "--output",
        "json",
    ])));
    assert_eq!(skipped["skipped"]["position"], poison.position.unwrap());
    let letters = json(&run(base(&["dead-letters", "ls", "--output", "json"])));
    assert_eq!(letters, Value::Array(Vec::new()));
    fails_with(
        &run(base(&["dead-letters", "skip", "test.ledger", &position])),
        "no dead letter at position",
    );
}

/// A read store in a database of its own (level 2): another Postgres database, and MariaDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_a_read_store_in_another_database() {
    let bank = PgBank::new().await;
    let url = support::database_url();
    let schema = bank.store.schema().to_owned();
    bank.open("far-a").await;
    bank.deposit("far-a", 2).await;
    let head = bank.store.head().await.unwrap().position.unwrap();

    // Another Postgres database.
    let elsewhere = support::postgres_read_store_elsewhere().await;
    let runner = ProjectionRunner::new(bank.store.clone(), elsewhere.clone(), AccountBalances).spawn();
    runner
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .unwrap();
    runner.stop().await.into_result().unwrap();
    let read_url = support::read_database_url();
    let status = json(&chronicle(&[
        "--database-url",
        &url,
        "--schema",
        &schema,
        "--read-database-url",
        &read_url,
        "--read-schema",
        elsewhere.schema(),
        "status",
        "--output",
        "json",
    ]));
    assert_eq!(status["projections"][0]["projection"], "bank.account_balances");
    assert_eq!(status["projections"][0]["position"], head);
    assert!(
        status["place"].as_str().unwrap().contains("read store"),
        "{status}"
    );
    // Beside the log there is none.
    let beside = json(&chronicle(&[
        "--database-url",
        &url,
        "--schema",
        &schema,
        "status",
        "--output",
        "json",
    ]));
    assert_eq!(beside["projections"], Value::Array(Vec::new()));
    assert!(
        beside["read_store_missing"]
            .as_str()
            .unwrap()
            .contains("--read-database-url"),
        "{beside}"
    );
    fails_with(
        &chronicle(&["--database-url", &url, "--schema", &schema, "dead-letters", "ls"]),
        "no Chronicle read store in",
    );

    // MariaDB, with the portable view.
    let mysql = support::mysql_read_store().await;
    let database = support::mysql_database(&mysql).await;
    let base = support::mysql_url();
    let mysql_url = format!("{}/{database}", base.rsplit_once('/').unwrap().0);
    let portable = chronicle::SqlReadStore::from(mysql.clone());
    let runner = ProjectionRunner::new(bank.store.clone(), portable, bank::views::AccountBalances).spawn();
    runner
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .unwrap();
    runner.stop().await.into_result().unwrap();
    let status = json(&chronicle(&[
        "--database-url",
        &url,
        "--schema",
        &schema,
        "--read-database-url",
        &mysql_url,
        "status",
        "--output",
        "json",
    ]));
    assert_eq!(status["projections"][0]["projection"], "bank.account_balances");
    assert_eq!(status["projections"][0]["events_behind"], 0);
    support::drop_mysql_database(&mysql).await;
    fails_with(
        &chronicle(&[
            "--database-url",
            &url,
            "--read-database-url",
            "redis://127.0.0.1",
            "status",
        ]),
        "cannot use",
    );
}

/// `streams show` and `events tail` of events with `#[pii]` fields: the tool has no application
/// types and decrypts nothing; a sealed field shows as `[encrypted]`, or `[forgotten]` once its
/// subject was forgotten, and no plaintext reaches the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_fields_show_as_encrypted_then_forgotten() {
    use chronicle_tests::conformance::forgetting::{email_of, register_and_move};
    let file = TempFile::new("chronicle-cli-pii");
    let url = format!("sqlite:{}", file.path().display());
    let store = support::sqlite_store_in(&file).await;
    let crm = chronicle::Chronicle::new(store.clone());
    register_and_move(&crm, "c-1").await;
    let show = |format: &str| {
        stdout(&chronicle(&[
            "--database-url",
            &url,
            "streams",
            "show",
            "crm.Customer-c-1",
            "--output",
            format,
        ]))
    };
    let tail = || stdout(&chronicle(&["--database-url", &url, "events", "tail"]));
    let shown = json(&chronicle(&[
        "--database-url",
        &url,
        "streams",
        "show",
        "crm.Customer-c-1",
        "--output",
        "json",
    ]));
    assert_eq!(shown[0]["payload"]["email"], chronicle::ENCRYPTED);
    assert_eq!(shown[0]["payload"]["plan"], "basic");
    for text in [show("table"), tail()] {
        assert!(text.contains(chronicle::ENCRYPTED), "{text}");
        assert!(
            !text.contains(&email_of("c-1")) && !text.contains("chronicle:pii"),
            "{text}"
        );
    }
    crm.forget("c-1").await.unwrap();
    for text in [show("table"), show("json"), tail()] {
        assert!(text.contains(chronicle::FORGOTTEN), "{text}");
        assert!(!text.contains(chronicle::ENCRYPTED), "{text}");
    }
}
