//! The admin page mounted in an application's own axum server (admin chapter).

use axum::routing::get;
use axum::Router;
use chronicle::{PostgresReadStore, PostgresStore};
use chronicle_admin::{Admin, AdminError, PrometheusHandle};

// ANCHOR: mount
/// The application's routes, with the admin page under `/admin/`.
pub async fn routes(
    events: PostgresStore,
    views: PostgresReadStore,
    metrics: Option<PrometheusHandle>,
) -> Result<Router, AdminError> {
    let mut admin = Admin::new(events, views)
        .at("/admin")
        // Shown as *** wherever they are in payloads and metadata.
        .mask(["email", "iban"]);
    // Read-only unless a token is configured; who acts with it is "ops" in the audit table.
    if let Ok(secret) = std::env::var("ADMIN_TOKEN") {
        admin = admin.token("ops", &secret);
    }
    if let Some(handle) = metrics {
        admin = admin.prometheus(handle); // served at /admin/metrics
    }
    admin.migrate().await?; // the audit table, in the read store's database
    Ok(Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(admin.router()))
}
// ANCHOR_END: mount

/// `GET path` on `address`: the status code and the body.
async fn get_page(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned());
    (status, body.unwrap_or_default())
}

#[tokio::test]
async fn the_admin_page_is_mounted_under_a_prefix() {
    let bank = chronicle_tests::support::PgBank::new().await;
    bank.open("admin-book").await;
    let views = chronicle_tests::support::postgres_read_store_beside(&bank.store).await;
    let router = routes(bank.store.clone(), views, None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(chronicle_admin::serve(listener, router));

    assert_eq!(get_page(address, "/health").await, (200, "ok".to_owned()));
    let (status, dashboard) = get_page(address, "/admin/").await;
    assert_eq!(status, 200, "{dashboard}");
    // Links stay under /admin/.
    assert!(dashboard.contains(r#"href="/admin/streams""#), "{dashboard}");
    assert_eq!(get_page(address, "/admin").await.0, 200);
    let (status, streams) = get_page(address, "/admin/streams").await;
    assert_eq!(status, 200);
    assert!(streams.contains("bank.Account-admin-book"), "{streams}");
    assert_eq!(
        get_page(address, "/admin/metrics").await.0,
        404,
        "no recorder given"
    );
    assert_eq!(get_page(address, "/admin/no/such/page").await.0, 404);
    assert_eq!(
        get_page(address, "/elsewhere").await.0,
        404,
        "the application's own 404"
    );
}
