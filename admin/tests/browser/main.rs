//! The admin page in a real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! against a real Postgres: what an operator sees and does, clicked through.

mod driver;
mod fixture;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chronicle::prelude::*;
use chronicle::sqlx;
use chronicle_admin::Admin;
use chronicle_tests::wait::DEADLINE;

use driver::Browser;
use fixture::{Fixture, UNLUCKY};

/// The whole of a test, past which it fails rather than hang.
const BOUND: Duration = Duration::from_secs(240);

/// The dashboard's row of the view.
const ROW: &str = r#"tr[data-projection="admin.deposits"]"#;

/// Where the screenshot in the book comes from.
fn screenshot_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src/images/admin-dashboard.png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_follows_the_lag_reads_a_stream_and_skips_and_retries_dead_letters() {
    tokio::time::timeout(BOUND, operator())
        .await
        .expect("the test ends within its bound");
}

async fn operator() {
    let fixture = Fixture::new().await;
    fixture.open("acc-1", "Ada Lovelace").await;
    fixture.deposit("acc-1", 5).await;
    fixture.deposit("acc-1", UNLUCKY).await;
    fixture.open("acc-2", "Alan Turing").await;
    fixture.deposit("acc-2", UNLUCKY).await;
    let last = fixture.deposit("acc-1", 7).await;
    let runner = fixture.runner();
    runner
        .wait_for(last.position, DEADLINE)
        .await
        .expect("the view caught up");
    let letters = runner.dead_letters().await.expect("dead letters");
    assert_eq!(letters.len(), 2);
    let (skipped, retried) = (letters[0].position, letters[1].position);

    let admin = Admin::new(fixture.store.clone(), fixture.read.clone())
        .token("ops", "s3cret")
        .mask(["owner", "email"])
        .sample_every(Duration::from_millis(200));
    let base = Fixture::serve(admin).await;
    let browser = Browser::start().await;

    // The dashboard: the view is live, nothing behind, two dead letters.
    browser.open(&format!("{base}?refresh=0")).await;
    let head = browser.wait_text("#head").await;
    assert_eq!(head, last.position.expect("a position").to_string());
    assert_eq!(browser.wait_text(&format!("{ROW} td.lag")).await, "0");
    assert_eq!(browser.wait_text(&format!("{ROW} td.state")).await, "live");
    assert_eq!(browser.wait_text("#dead-letters").await, "2");

    // The runner stops and three deposits come: the dashboard, reloading itself, shows them.
    runner.stop().await.into_result().expect("a clean stop");
    for amount in [1, 2, 3] {
        fixture.deposit("acc-1", amount).await;
    }
    browser.open(&format!("{base}?refresh=1")).await;
    browser
        .reload_until("the view three events behind", &format!("{ROW} td.lag"), |lag| {
            lag == "3"
        })
        .await;
    assert_eq!(browser.wait_text(&format!("{ROW} td.state")).await, "no runner");

    // A runner again: back to nothing behind.
    let runner = fixture.runner();
    browser
        .reload_until("the view caught up again", &format!("{ROW} td.lag"), |lag| {
            lag == "0"
        })
        .await;
    browser.open(&format!("{base}?refresh=0")).await;
    browser.wait_text(&format!("{ROW} td.lag")).await;
    let png = browser.client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::create_dir_all(screenshot_path().parent().expect("a folder")).expect("the images folder");
    std::fs::write(screenshot_path(), &png).expect("write the book's screenshot");

    // A stream, from the streams browser: decoded payloads, masked fields.
    browser.click("a[href=\"/streams\"]").await;
    browser.click("a.stream").await;
    assert_eq!(browser.wait_text("#stream-id").await, "bank.Account-acc-1");
    let source = browser.client.source().await.expect("the page's source");
    assert!(source.contains("bank.AccountOpened"), "{source}");
    assert!(
        source.contains(r#""owner": "***""#),
        "the owner is masked: {source}"
    );
    assert!(
        source.contains(r#""email": "***""#),
        "the metadata's e-mail is masked: {source}"
    );
    assert!(
        !source.contains("Ada Lovelace") && !source.contains("acc-1@example.com"),
        "{source}"
    );
    assert!(
        source.contains(r#""amount": 13"#),
        "other fields are shown: {source}"
    );
    assert_eq!(
        browser.count("tr.event").await,
        7,
        "the stream of acc-1: 7 events"
    );

    // Skipping without logging in is refused, and the letters stay.
    browser.click("a[href=\"/dead-letters\"]").await;
    assert_eq!(browser.count("tr.letter").await, 2);
    let letter = browser.wait_text("tr.letter td.error").await;
    assert!(letter.contains("refuses a deposit of 13"), "{letter}");
    browser.submit("button.skip").await;
    assert_eq!(browser.wait_text("#status").await, "401 Unauthorized");
    browser.open(&format!("{base}dead-letters")).await;
    assert_eq!(browser.count("tr.letter").await, 2);

    // Logged in, the skip goes through: the first letter disappears.
    browser.click("a[href=\"/login\"]").await;
    browser.type_into("#token", "wrong").await;
    browser.click("#login").await;
    browser.wait_text("#refused").await;
    browser.type_into("#token", "s3cret").await;
    browser.click("#login").await;
    assert_eq!(browser.wait_text("#who").await, "ops");
    browser.click("a[href=\"/dead-letters\"]").await;
    browser
        .submit(&format!(r#"tr.letter[data-position="{skipped}"] button.skip"#))
        .await;
    browser.reload_until_count("tr.letter", 1).await;
    let left: Vec<u64> = runner
        .dead_letters()
        .await
        .expect("dead letters")
        .iter()
        .map(|letter| letter.position)
        .collect();
    assert_eq!(left, [retried]);

    // The view is fixed; a retry of the other letter: the runner applies it, the letter goes.
    fixture.view.fixed.store(true, Ordering::SeqCst);
    browser.submit("button.retry").await;
    browser.reload_until_count("#no-letters", 1).await;
    assert!(runner.dead_letters().await.expect("dead letters").is_empty());
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM admin_deposits WHERE amount = 13")
        .fetch_one(fixture.store.pool())
        .await
        .expect("the view's rows");
    assert_eq!(
        applied, 1,
        "the retried deposit is in the view, the skipped one is not"
    );

    // The audit table says who did what, newest first; the refused skip is not in it.
    browser.click("a[href=\"/audit\"]").await;
    browser.wait_text("tr.entry").await;
    let mut entries = Vec::new();
    for row in browser.all("tr.entry").await {
        entries.push(row.text().await.expect("a row's text"));
    }
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(
        entries[0].ends_with(&format!("ops retry admin.deposits v1 @{retried} ok")),
        "{entries:?}"
    );
    assert!(
        entries[1].ends_with(&format!("ops skip admin.deposits v1 @{skipped} ok")),
        "{entries:?}"
    );

    browser.close().await;
    runner.stop().await.into_result().expect("a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_page_is_read_only_and_hostile_ids_get_clear_pages() {
    tokio::time::timeout(BOUND, read_only())
        .await
        .expect("the test ends within its bound");
}

async fn read_only() {
    let fixture = Fixture::new().await;
    let opened = fixture.open("acc-2", "Grace Hopper").await;
    fixture.deposit("acc-2", UNLUCKY).await;
    let last = fixture.deposit("acc-2", 1).await;
    let runner = fixture.runner();
    runner
        .wait_for(last.position, DEADLINE)
        .await
        .expect("the view caught up");
    let base = Fixture::serve(Admin::new(fixture.store.clone(), fixture.read.clone())).await;
    let browser = Browser::start().await;

    browser.open(&format!("{base}dead-letters")).await;
    assert_eq!(browser.count("tr.letter").await, 1);
    assert_eq!(browser.count("button.skip").await, 0, "no action is offered");
    // A skip posted anyway, from the page itself, is refused.
    let status = browser
        .client
        .execute(
            "return fetch('/dead-letter', {method: 'POST', body: new URLSearchParams(arguments[0])}).then(r => r.status)",
            vec![serde_json::json!({"action": "skip", "projection": "admin.deposits", "position": last.position.unwrap_or(0).to_string()})],
        )
        .await
        .expect("a fetch from the page");
    assert_eq!(status, serde_json::json!(403));
    browser.open(&format!("{base}dead-letters")).await;
    assert_eq!(browser.count("tr.letter").await, 1);

    // Identifiers from the URL are shown as text, never as markup, and refused clearly.
    let hostile = "x-<script>alert(1)</script>";
    browser
        .open(&format!("{base}stream?id=x-%3Cscript%3Ealert(1)%3C%2Fscript%3E"))
        .await;
    assert_eq!(browser.wait_text("#status").await, "404 Not Found");
    assert_eq!(
        browser.wait_text("#message").await,
        format!("no stream `{hostile}` in the log")
    );
    assert_eq!(browser.count("script").await, 0);
    browser.open(&format!("{base}stream?id=")).await;
    assert_eq!(browser.wait_text("#status").await, "400 Bad Request");
    browser
        .open(&format!("{base}stream?id=bank.Account-acc-2&after=nine"))
        .await;
    assert_eq!(browser.wait_text("#status").await, "400 Bad Request");
    browser.open(&format!("{base}projection?name=%3Cb%3Enope")).await;
    assert_eq!(browser.wait_text("#status").await, "404 Not Found");
    browser.open(&format!("{base}trace?correlation=not-a-uuid")).await;
    assert_eq!(browser.wait_text("#status").await, "400 Bad Request");
    browser.open(&format!("{base}?refresh=soon")).await;
    assert_eq!(browser.wait_text("#status").await, "400 Bad Request");
    browser.open(&format!("{base}no/such/page")).await;
    assert_eq!(browser.wait_text("#status").await, "404 Not Found");

    // The trace of a command and the projection's page.
    let correlation = fixture
        .store
        .read_stream(&opened.stream_id, 0)
        .await
        .expect("the stream")[0]
        .metadata
        .correlation_id;
    browser
        .open(&format!("{base}trace?correlation={correlation}"))
        .await;
    assert_eq!(browser.wait_text("#correlation").await, correlation.to_string());
    assert_eq!(browser.count("tr.event").await, 1);
    browser
        .open(&format!("{base}projection?name=admin.deposits"))
        .await;
    let error = browser.wait_text("#last-error").await;
    assert!(error.contains("refuses a deposit of 13"), "{error}");

    // The database goes away: an error page, and the server goes on.
    fixture.store.pool().close().await;
    browser.open(&base).await;
    assert_eq!(browser.wait_text("#status").await, "503 Service Unavailable");
    let message = browser.wait_text("#message").await;
    assert!(message.contains("store"), "{message}");
    browser.open(&format!("{base}dead-letters")).await;
    let status = browser.wait_text("#status").await;
    assert!(status.starts_with("50"), "{status}");

    browser.close().await;
    runner.stop().await;
}
