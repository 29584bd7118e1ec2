//! The audit table on the engines behind the portable read store, SQLite and MariaDB (Postgres's
//! is clicked through in the browser tests): an admin's skip through the router deletes the
//! letter and its row reads back; a request without the token changes nothing.

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{Request, StatusCode};
use chronicle::{
    Checkpoint, CheckpointRow, DeadLetter, ReadStore, ReadTransaction as _, SqlReadStore, SqliteStore,
};
use chronicle_admin::Admin;
use chronicle_tests::support::{self, TempFile};
use tower::ServiceExt as _;

mod router;

use router::page;

const VIEW: &str = "audit.view";

/// A checkpoint row and a dead letter at position 1, through the read store's own API.
async fn a_dead_letter(read: &SqlReadStore) {
    let mut session = read.connect().await.expect("a session");
    let mut transaction = SqlReadStore::begin(&mut session).await.expect("a transaction");
    let row = CheckpointRow {
        version: 1,
        checkpoint: Checkpoint {
            transaction_id: 0,
            position: 1,
        },
    };
    assert!(read
        .save_checkpoint(transaction.connection(), VIEW, None, row)
        .await
        .expect("a checkpoint"));
    let letter = DeadLetter {
        projection: VIEW.to_owned(),
        version: 1,
        position: 1,
        transaction_id: 0,
        event_id: None,
        stream_id: "bank.Account-a".to_owned(),
        stream_version: 1,
        event_type: "bank.AccountOpened".to_owned(),
        error: "the view refuses it".to_owned(),
        recorded_at: chrono::Utc::now(),
        retry_requested_at: None,
    };
    read.record_dead_letter(transaction.connection(), &letter)
        .await
        .expect("a dead letter");
    transaction.commit().await.expect("commit");
    SqlReadStore::close(session).await;
}

fn skip(token: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/dead-letter").header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    request
        .body(Body::from(format!("action=skip&projection={VIEW}&position=1")))
        .expect("a request")
}

async fn a_skip_is_audited(read: SqlReadStore, events: SqliteStore) {
    a_dead_letter(&read).await;
    let admin = Admin::new(events, read.clone()).token("ops", "s3cret");
    admin.migrate().await.expect("the audit table");
    admin.migrate().await.expect("the audit table, again");
    let router = admin.router();
    let (_, audit) = page(&router, "/audit").await;
    assert!(audit.contains("No action has been taken yet."), "{audit}");

    let refused = router
        .clone()
        .oneshot(skip(Some("wrong")))
        .await
        .expect("an answer");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(read.dead_letters(VIEW, 1).await.expect("letters").len(), 1);

    let done = router
        .clone()
        .oneshot(skip(Some("s3cret")))
        .await
        .expect("an answer");
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(read.dead_letters(VIEW, 1).await.expect("letters").is_empty());
    let (status, audit) = page(&router, "/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audit.matches(r#"<tr class="entry">"#).count(), 1, "{audit}");
    assert!(audit.contains(r#"<td class="actor">ops</td><td class="action">skip</td><td class="target">audit.view v1 @1</td><td class="outcome">ok</td>"#), "{audit}");

    // Gone: a second skip finds no letter, and is not an action.
    let again = router
        .clone()
        .oneshot(skip(Some("s3cret")))
        .await
        .expect("an answer");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn on_sqlite() {
    let file = TempFile::new("admin-audit");
    let events = support::sqlite_store_in(&file).await;
    let read = SqlReadStore::from(
        chronicle::SqliteReadStore::open(file.path())
            .await
            .expect("the read store"),
    );
    read.migrate().await.expect("migrate");
    a_skip_is_audited(read, events).await;
}

#[tokio::test]
async fn on_mariadb() {
    let file = TempFile::new("admin-audit-events");
    let events = support::sqlite_store_in(&file).await;
    a_skip_is_audited(SqlReadStore::from(support::mysql_read_store().await), events).await;
}
