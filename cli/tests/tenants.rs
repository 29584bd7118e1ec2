//! `--tenant`: the `chronicle` binary shows one tenant's streams, events, correlations, dead
//! letters and status, and forgets one tenant's data subject, against a real Postgres log where
//! two tenants wrote the same streams.

use std::process::Output;
use std::time::Duration;

use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection};
use chronicle::{OnPoison, RetryPolicy};
use chronicle_tests::command_line::{self, fails_with, json, stdout};
use chronicle_tests::conformance::write::open;
use chronicle_tests::support;
use serde_json::Value;
use uuid::Uuid;

fn chronicle(args: &[String]) -> Output {
    command_line::run(
        env!("CARGO_BIN_EXE_chronicle"),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// Refuses deposits of 13.
struct Picky;

#[derive(Debug, thiserror::Error)]
#[error("13 is refused")]
struct Thirteen;

#[projection(name = "test.cli_picky", version = 1)]
impl Picky {
    #[reset]
    async fn reset(&self, _db: &mut PgConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }

    #[on]
    async fn deposited(&self, event: &bank::MoneyDeposited, _db: &mut PgConnection) -> Result<(), Thirteen> {
        if event.amount == 13 {
            return Err(Thirteen);
        }
        Ok(())
    }
}

fn lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_filters_streams_events_traces_and_dead_letters() {
    let store = support::postgres_store().await;
    let app = Chronicle::new(store.clone());
    let tenant = |id| Tenant::new(id).expect("plain");
    let (acme, globex) = (app.for_tenant(tenant("acme")), app.for_tenant(tenant("globex")));
    let opened_id = Uuid::new_v4();
    let mut receipts = Vec::new();
    for handle in [&acme, &globex] {
        receipts.push(
            handle
                .execute_with(open("a-1"), CommandContext::new().command_id(opened_id))
                .await
                .expect("opened"),
        );
    }
    let deposit = |amount| bank::Deposit {
        account_id: "a-1".into(),
        amount,
    };
    acme.execute(deposit(13)).await.expect("acme's poison deposit");
    globex.execute(deposit(5)).await.expect("globex's deposit");
    globex.execute(open("only-globex")).await.expect("globex alone");
    let read = support::postgres_read_store_beside(&store).await;
    let picky = ProjectionRunner::new(store.clone(), read, Picky)
        .retry(RetryPolicy::new(2, Duration::from_millis(5)))
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    picky
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .expect("caught up");
    picky.stop().await.into_result().expect("a clean stop");

    let url = support::database_url();
    let args = |more: &[&str]| -> Vec<String> {
        ["--database-url", url.as_str(), "--schema", store.schema()]
            .iter()
            .chain(more)
            .map(|s| s.to_string())
            .collect()
    };
    let stream = receipts[0].stream_id.clone();

    // Streams: each tenant's own, the same id at its own version; none of no tenant.
    let listed = |tenant: Option<&str>| {
        let mut more = vec!["streams", "ls", "--output", "json"];
        if let Some(tenant) = tenant {
            more.extend(["--tenant", tenant]);
        }
        let page = json(&chronicle(&args(&more)));
        page["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .map(|s| {
                (
                    s["stream_id"].as_str().expect("id").to_owned(),
                    s["version"].as_u64().expect("version"),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(Some("acme")), [(stream.clone(), 2)]);
    assert_eq!(
        listed(Some("globex")),
        [(stream.clone(), 2), ("bank.Account-only-globex".to_owned(), 1)]
    );
    assert!(listed(None).is_empty(), "no stream of no tenant");

    let shown = json(&chronicle(&args(&[
        "streams", "show", &stream, "--tenant", "acme", "--output", "json",
    ])));
    let shown = shown.as_array().expect("events");
    assert_eq!(shown.len(), 2);
    assert!(shown.iter().all(|e| e["tenant"] == "acme"));
    assert_eq!(shown[1]["payload"]["amount"], 13);

    // Events: the whole log without a tenant, each line naming its tenant; one tenant's with.
    let all = lines(&chronicle(&args(&["events", "tail", "--output", "json"])));
    assert_eq!(all.len(), 5);
    let globex_lines = lines(&chronicle(&args(&[
        "events", "tail", "--tenant", "globex", "--output", "json",
    ])));
    assert_eq!(globex_lines.len(), 3);
    assert!(globex_lines.iter().all(|e| e["tenant"] == "globex"));
    let table = stdout(&chronicle(&args(&["events", "tail", "--tenant", "acme"])));
    assert!(table.contains(&format!("acme/{stream} v2")), "{table}");
    assert!(!table.contains("globex"), "{table}");

    // A trace follows a request within the tenant.
    let correlation = store
        .for_tenant(tenant("globex"))
        .read_stream(&stream, 0)
        .await
        .expect("read")[1]
        .metadata
        .correlation_id
        .to_string();
    fails_with(
        &chronicle(&args(&["trace", &correlation, "--tenant", "acme"])),
        "no event carries the correlation id",
    );
    let traced = json(&chronicle(&args(&[
        "trace",
        &correlation,
        "--tenant",
        "globex",
        "--output",
        "json",
    ])));
    assert!(traced.to_string().contains("bank.MoneyDeposited"), "{traced}");

    // Dead letters: acme's poison deposit is acme's alone.
    let letters = |tenant: Option<&str>| {
        let mut more = vec!["dead-letters", "ls", "--output", "json"];
        if let Some(tenant) = tenant {
            more.extend(["--tenant", tenant]);
        }
        json(&chronicle(&args(&more))).as_array().expect("letters").len()
    };
    assert_eq!(letters(Some("acme")), 1);
    assert_eq!(letters(Some("globex")), 0);
    assert_eq!(letters(None), 1, "an operator sees every tenant's");

    // Status: each tenant's own events, lag and dead letters. Two more of globex's events come
    // after the stopped runner's checkpoint.
    globex.execute(deposit(7)).await.expect("a later deposit");
    globex.execute(deposit(8)).await.expect("a later deposit");
    let status = |tenant: &str| {
        json(&chronicle(&args(&[
            "status", "--tenant", tenant, "--output", "json",
        ])))
    };
    let picky_row = |status: &Value| {
        status["projections"]
            .as_array()
            .expect("projections")
            .iter()
            .find(|p| p["projection"] == "test.cli_picky")
            .cloned()
            .expect("the picky projection's row")
    };
    let (of_acme, of_globex) = (status("acme"), status("globex"));
    assert_eq!(of_acme["tenant"], "acme");
    assert_eq!(of_acme["event_count"], 2, "{of_acme}");
    assert_eq!(of_globex["event_count"], 5, "{of_globex}");
    assert_eq!(picky_row(&of_acme)["events_behind"], 0, "{of_acme}");
    assert_eq!(picky_row(&of_globex)["events_behind"], 2, "{of_globex}");
    assert_eq!(picky_row(&of_acme)["dead_letters"], 1);
    assert_eq!(picky_row(&of_globex)["dead_letters"], 0);
    assert!(of_acme["head_recorded_at"].is_string(), "{of_acme}");
    let whole = json(&chronicle(&args(&["status", "--output", "json"])));
    assert_eq!(whole["event_count"], 7, "{whole}");
    assert!(whole.get("tenant").is_none(), "{whole}");
    assert_eq!(picky_row(&whole)["events_behind"], 2);
    assert!(
        of_globex["head_position"].as_u64() > of_acme["head_position"].as_u64(),
        "each tenant's newest event: {of_acme} {of_globex}"
    );
    let table = stdout(&chronicle(&args(&["status", "--tenant", "globex"])));
    assert!(
        table.contains("tenant globex") && table.contains("(5 events)"),
        "{table}"
    );

    // Hostile tenant ids are refused with a clear line, before any query.
    for hostile in ["acme'; DROP TABLE chronicle_events; --", "", "a b"] {
        fails_with(
            &chronicle(&args(&["streams", "ls", "--tenant", hostile])),
            "invalid tenant name",
        );
    }
    support::drop_schema(store.pool(), store.schema()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_destroys_one_tenants_subject() {
    use chronicle_tests::conformance::forgetting::{email_of, register_and_move, Customer};

    let store = support::postgres_store().await;
    let tenant = |id| Tenant::new(id).expect("plain");
    let app = Chronicle::new(store.clone());
    let (acme, globex) = (app.for_tenant(tenant("acme")), app.for_tenant(tenant("globex")));
    register_and_move(&acme, "c-1").await;
    register_and_move(&globex, "c-1").await;
    let url = support::database_url();
    let args = |more: &[&str]| -> Vec<String> {
        ["--database-url", url.as_str(), "--schema", store.schema()]
            .iter()
            .chain(more)
            .map(|s| s.to_string())
            .collect()
    };

    fails_with(
        &chronicle(&args(&["forget", "c-1", "--tenant", "acme"])),
        "run again with --yes",
    );
    assert_eq!(
        acme.load::<Customer>("c-1").await.unwrap().state.email,
        email_of("c-1"),
        "nothing was forgotten without --yes"
    );
    let forgot = json(&chronicle(&args(&[
        "forget", "c-1", "--yes", "--tenant", "acme", "--output", "json",
    ])));
    assert_eq!(forgot["key_destroyed"], true, "{forgot}");
    assert_eq!(forgot["tenant"], "acme");
    let again = stdout(&chronicle(&args(&["forget", "c-1", "--yes", "--tenant", "acme"])));
    assert!(again.contains("forgotten before"), "{again}");

    // A fresh handle (no cache) reads acme's c-1 redacted, and globex's c-1 as it was.
    let fresh = Chronicle::new(store.clone());
    let in_acme = fresh
        .for_tenant(tenant("acme"))
        .load::<Customer>("c-1")
        .await
        .unwrap();
    assert_eq!(in_acme.state.email, chronicle::FORGOTTEN);
    let in_globex = fresh
        .for_tenant(tenant("globex"))
        .load::<Customer>("c-1")
        .await
        .unwrap();
    assert_eq!(in_globex.state.email, email_of("c-1"));
    // The tool shows acme's field as forgotten and globex's as sealed.
    let shown = |tenant: &str| {
        json(&chronicle(&args(&[
            "streams",
            "show",
            "crm.Customer-c-1",
            "--tenant",
            tenant,
            "--output",
            "json",
        ])))
        .to_string()
    };
    assert!(shown("acme").contains(chronicle::FORGOTTEN), "{}", shown("acme"));
    assert!(
        !shown("globex").contains(chronicle::FORGOTTEN),
        "{}",
        shown("globex")
    );
    support::drop_schema(store.pool(), store.schema()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_one_tenants_events_in_a_sqlite_log() {
    let file = support::TempFile::new("cli-tenants");
    let store = support::sqlite_store_in(&file).await;
    let app = Chronicle::new(store);
    let tenant = |id| Tenant::new(id).expect("plain");
    let (acme, globex) = (app.for_tenant(tenant("acme")), app.for_tenant(tenant("globex")));
    acme.execute(open("a-1")).await.expect("acme's account");
    acme.execute(bank::Deposit {
        account_id: "a-1".into(),
        amount: 5,
    })
    .await
    .expect("acme's deposit");
    let last = globex.execute(open("a-1")).await.expect("globex's account");
    let url = format!("sqlite:{}", file.path().display());
    let status = |tenant: &str| {
        json(&chronicle(
            &[
                "--database-url",
                url.as_str(),
                "status",
                "--tenant",
                tenant,
                "--output",
                "json",
            ]
            .map(String::from),
        ))
    };
    let (of_acme, of_globex) = (status("acme"), status("globex"));
    assert_eq!(of_acme["event_count"], 2, "{of_acme}");
    assert_eq!(of_globex["event_count"], 1, "{of_globex}");
    assert_eq!(
        of_globex["head_position"],
        last.position.expect("a position"),
        "{of_globex}"
    );
    assert!(
        of_acme["head_recorded_at"].is_string(),
        "the newest event's time: {of_acme}"
    );
    assert_eq!(status("nobody")["event_count"], 0);
}
