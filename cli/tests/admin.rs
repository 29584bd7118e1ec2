//! `chronicle admin --listen`: the binary serves the admin page and `/metrics` on the stores it
//! opens, read-only without a token; a port it cannot take is one line and exit code 1. And a
//! blue/green rebuild as `status` and the dashboard show it.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use bank::views::postgres::AccountBalances;
use chronicle::{BlueGreenRunner, PostgresStore, ProjectionRunner};
use chronicle_tests::command_line::json;
use chronicle_tests::support::{self, PgBank};
use chronicle_tests::wait::{eventually, DEADLINE};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The server process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on `address`: the status line and the body.
async fn get(address: &str, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect to the admin server");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// `chronicle admin --listen` on a free port, on the log and read store in `schema`, read-only:
/// the server and the address it printed.
async fn serve(schema: &str) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chronicle"))
        .args(["admin", "--listen", "127.0.0.1:0", "--database-url"])
        .arg(support::database_url())
        .args(["--schema", schema])
        .env_remove("CHRONICLE_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run chronicle admin");
    let stdout = child.stdout.take().expect("its output");
    let server = Server(child);
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(DEADLINE, line)
        .await
        .expect("the address within the deadline")
        .expect("the reading thread")
        .expect("the first line");
    assert!(line.contains("(read-only: no admin token)"), "{line}");
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("an address in: {line}"))
        .to_owned();
    (server, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_command_serves_the_page_and_metrics_of_a_postgres_log() {
    let bank = PgBank::new().await;
    bank.open("adm-a").await;
    let last = bank.deposit("adm-a", 5).await;
    let read = support::postgres_read_store_beside(&bank.store).await;
    let runner = ProjectionRunner::new(bank.store.clone(), read, AccountBalances).spawn();
    runner
        .wait_for(last.position, DEADLINE)
        .await
        .expect("the view caught up");

    let (server, address) = serve(bank.store.schema()).await;
    let (status, body) = get(&address, "/").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("bank.account_balances"), "{body}");
    let (status, _) = get(&address, "/dead-letter").await;
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    // The sampler's gauges, once it has looked at the stores.
    eventually("the head's gauge on /metrics", DEADLINE, || async {
        let (status, body) = get(&address, "/metrics").await;
        (status == "HTTP/1.1 200 OK" && body.contains("chronicle_admin_head_position")).then_some(())
    })
    .await;
    drop(server);
    runner.stop().await;

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("its address").port();
    let output = Command::new(env!("CARGO_BIN_EXE_chronicle"))
        .args([
            "admin",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
        ])
        .arg(support::database_url())
        .args(["--schema", bank.store.schema()])
        .output()
        .expect("run chronicle admin");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on `127.0.0.1:{port}`")),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

/// A view built blue/green whose version 2 waits at a gate, so that a test sees it building.
mod gated {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use bank::MoneyDeposited;
    use chronicle::prelude::*;
    use chronicle::{sql, Sql, SqlReadStore};

    /// Counts deposits in one row of a table of its own.
    async fn count(db: &mut Sql, events: &[MoneyDeposited]) -> Result<(), chronicle::sqlx::Error> {
        db.execute(sql(
            "CREATE TABLE IF NOT EXISTS gated_view (events BIGINT NOT NULL)",
        ))
        .await?;
        let events = i64::try_from(events.len()).unwrap_or(i64::MAX);
        db.execute(sql("INSERT INTO gated_view (events) VALUES ($1)").bind(events))
            .await
            .map(drop)
    }

    #[derive(Default, Clone)]
    pub struct V1;

    #[projection(name = "ops.gated", version = 1)]
    impl V1 {
        #[on]
        async fn deposited(
            &self,
            events: &[MoneyDeposited],
            db: &mut Sql,
        ) -> Result<(), chronicle::sqlx::Error> {
            count(db, events).await
        }
    }

    /// Version 2 applies nothing until its gate opens.
    #[derive(Default, Clone)]
    pub struct V2 {
        pub open: Arc<AtomicBool>,
    }

    #[projection(name = "ops.gated", version = 2)]
    impl V2 {
        #[on]
        async fn deposited(
            &self,
            events: &[MoneyDeposited],
            db: &mut Sql,
        ) -> Result<(), chronicle::sqlx::Error> {
            while !self.open.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            count(db, events).await
        }
    }

    pub type Store = SqlReadStore;
}

/// The location rows of `ops.gated` in `chronicle status --output json`: (version, location).
fn locations_in_status(schema: &str) -> Vec<(u64, String)> {
    let url = support::database_url();
    let status = json(&run(&[
        "status",
        "--output",
        "json",
        "--database-url",
        &url,
        "--schema",
        schema,
    ]));
    status["projections"]
        .as_array()
        .expect("projections")
        .iter()
        .filter(|row| row["projection"] == "ops.gated")
        .map(|row| {
            (
                row["version"].as_u64().expect("a version"),
                row["location"].as_str().unwrap_or("none").to_owned(),
            )
        })
        .collect()
}

/// A blue/green runner that checks often and drops old locations a second after they are retired.
fn quick<P: chronicle::Projection<Store = gated::Store>>(
    runner: BlueGreenRunner<P, PostgresStore>,
) -> BlueGreenRunner<P, PostgresStore> {
    runner
        .check_every(std::time::Duration::from_millis(20))
        .grace(std::time::Duration::from_secs(1))
}

fn run(args: &[&str]) -> std::process::Output {
    chronicle_tests::command_line::run(env!("CARGO_BIN_EXE_chronicle"), args)
}

/// A projection rebuilt blue/green, as operators see it: `status` and the dashboard show a row
/// per version's location, the live one and the one building beside it, then the old one once
/// the newer is live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_the_dashboard_show_a_blue_green_rebuild() {
    use std::sync::atomic::Ordering;

    use chronicle::{Locations as _, ReadSide};

    let bank = PgBank::new().await;
    bank.open("bg-a").await;
    bank.deposit("bg-a", 5).await;
    let read = gated::Store::from(support::postgres_read_store_beside(&bank.store).await);
    let side = ReadSide::new(bank.store.clone(), read.clone());
    let v1 = quick(side.blue_green(gated::V1)).spawn();
    eventually("version 1 live", DEADLINE, || async {
        let status = side.blue_green_status::<gated::V1>().await.expect("status");
        (status.live_version == Some(1)).then_some(())
    })
    .await;
    let v2 = gated::V2::default();
    let open = v2.open.clone();
    let v2 = quick(side.blue_green(v2)).spawn();
    eventually("version 2 registered", DEADLINE, || async {
        let status = side.blue_green_status::<gated::V2>().await.expect("status");
        status.locations.iter().any(|l| l.version == 2).then_some(())
    })
    .await;

    let schema = bank.store.schema().to_owned();
    assert_eq!(
        locations_in_status(&schema),
        [(1, "live".to_owned()), (2, "building".to_owned())]
    );
    let (server, address) = serve(&schema).await;
    let (_, dashboard) = get(&address, "/").await;
    for (row, state) in [("ops.gated/v1", "live version"), ("ops.gated/v2", "building")] {
        let at = dashboard
            .find(&format!(r#"data-projection="{row}""#))
            .unwrap_or_else(|| panic!("a row of {row}: {dashboard}"));
        let end = dashboard[at..].find("</tr>").expect("the row's end") + at;
        assert!(
            dashboard[at..end].contains(&format!(">{state}<")),
            "{}",
            &dashboard[at..end]
        );
    }
    // The marker rows are no projections of their own.
    assert!(
        !dashboard.contains(r#"data-projection="ops.gated/live""#),
        "{dashboard}"
    );

    open.store(true, Ordering::SeqCst);
    eventually("version 2 live", DEADLINE, || async {
        let status = side.blue_green_status::<gated::V2>().await.expect("status");
        (status.live_version == Some(2)).then_some(())
    })
    .await;
    assert_eq!(
        locations_in_status(&schema),
        [(1, "old".to_owned()), (2, "live".to_owned())]
    );
    let (_, dashboard) = get(&address, "/").await;
    assert!(dashboard.contains(">old version<"), "{dashboard}");
    drop(server);
    v1.stop().await.into_result().expect("version 1 stops");
    v2.stop().await.into_result().expect("version 2 stops");
    for version in [1, 2] {
        read.drop_location("ops.gated", version)
            .await
            .expect("drop a location");
    }
}
