//! `?tenant=`: the streams pages show one tenant's streams, and the dead-letter page the letters
//! of one tenant's events, on a SQLite log where two tenants wrote the same stream.

use axum::http::StatusCode;
use chronicle::{
    Chronicle, DeadLetter, EventStore as _, ReadStore, ReadTransaction as _, SqlReadStore, SqliteReadStore,
    Tenant,
};
use chronicle_admin::Admin;
use chronicle_tests::conformance::write::{deposit, open};
use chronicle_tests::support::{self, TempFile};

mod router;

use router::page;

const VIEW: &str = "tenants.view";

/// A dead letter of `VIEW` for the event at `position`, through the read store's own API.
async fn a_dead_letter(read: &SqlReadStore, event: &chronicle::RecordedEvent) {
    let mut session = read.connect().await.expect("a session");
    let mut transaction = SqlReadStore::begin(&mut session).await.expect("a transaction");
    let row = chronicle::CheckpointRow {
        version: 1,
        checkpoint: chronicle::Checkpoint {
            transaction_id: 0,
            position: event.position,
        },
    };
    read.save_checkpoint(transaction.connection(), VIEW, None, row)
        .await
        .expect("a checkpoint");
    let letter = DeadLetter {
        projection: VIEW.to_owned(),
        version: 1,
        position: event.position,
        transaction_id: 0,
        event_id: Some(event.event_id),
        stream_id: event.stream_id.clone(),
        stream_version: event.stream_version,
        event_type: event.event_type.clone(),
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

#[tokio::test]
async fn pages_filter_streams_and_dead_letters_by_tenant() {
    let file = TempFile::new("admin-tenants");
    let events = support::sqlite_store_in(&file).await;
    let read = SqlReadStore::from(SqliteReadStore::open(file.path()).await.expect("the read store"));
    read.migrate().await.expect("migrate");
    let app = Chronicle::new(events.clone());
    let tenant = |id| Tenant::new(id).expect("plain");
    let (acme, globex) = (app.for_tenant(tenant("acme")), app.for_tenant(tenant("globex")));
    acme.execute(open("a-1")).await.expect("acme's account");
    globex.execute(open("a-1")).await.expect("globex's account");
    globex.execute(deposit("a-1", 7)).await.expect("globex's deposit");
    globex.execute(open("only-globex")).await.expect("globex alone");
    let acme_opened = events
        .for_tenant(tenant("acme"))
        .read_stream("bank.Account-a-1", 0)
        .await
        .expect("acme's stream")
        .remove(0);
    a_dead_letter(&read, &acme_opened).await;
    let router = Admin::new(events, read).router();

    let (_, of_acme) = page(&router, "/streams?tenant=acme").await;
    assert!(of_acme.contains("Streams of tenant"), "{of_acme}");
    assert_eq!(of_acme.matches(r#"class="stream""#).count(), 1, "{of_acme}");
    assert!(
        of_acme.contains("stream?id=bank.Account-a-1&amp;tenant=acme"),
        "{of_acme}"
    );
    let (_, of_globex) = page(&router, "/streams?tenant=globex").await;
    assert_eq!(of_globex.matches(r#"class="stream""#).count(), 2, "{of_globex}");
    let (_, of_none) = page(&router, "/streams").await;
    assert!(
        of_none.contains("No streams"),
        "no stream of no tenant: {of_none}"
    );

    // One stream id, each tenant's own events.
    let (status, stream) = page(&router, "/stream?id=bank.Account-a-1&tenant=globex").await;
    assert_eq!(status, StatusCode::OK, "{stream}");
    assert!(stream.contains("bank.MoneyDeposited"), "{stream}");
    let (_, stream) = page(&router, "/stream?id=bank.Account-a-1&tenant=acme").await;
    assert!(!stream.contains("bank.MoneyDeposited"), "{stream}");
    let (status, missing) = page(&router, "/stream?id=bank.Account-only-globex&tenant=acme").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert!(missing.contains("of tenant `acme`"), "{missing}");

    // Acme's letter is acme's alone; the operator's view (no tenant) sees it, named by tenant.
    let letters = |body: &str| body.matches(r#"<tr class="letter""#).count();
    let (_, acme_letters) = page(&router, "/dead-letters?tenant=acme").await;
    assert_eq!(letters(&acme_letters), 1, "{acme_letters}");
    assert!(acme_letters.contains("acme/bank.Account-a-1"), "{acme_letters}");
    let (_, globex_letters) = page(&router, "/dead-letters?tenant=globex").await;
    assert_eq!(letters(&globex_letters), 0, "{globex_letters}");
    let (_, every_letter) = page(&router, "/dead-letters").await;
    assert_eq!(letters(&every_letter), 1, "{every_letter}");

    // A hostile tenant id is a clear 400, never a query.
    for hostile in ["acme%27%3B%20DROP%20TABLE%20chronicle_events", "a%20b", "%C3%A4"] {
        for path in ["/streams", "/dead-letters"] {
            let (status, body) = page(&router, &format!("{path}?tenant={hostile}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {hostile}: {body}");
            assert!(body.contains("invalid tenant name"), "{body}");
        }
    }
}
