//! `chronicle admin --listen`: the binary serves the admin page and `/metrics` on the stores it
//! opens, read-only without a token; a port it cannot take is one line and exit code 1.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use bank::views::postgres::AccountBalances;
use chronicle::ProjectionRunner;
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

    let mut child = Command::new(env!("CARGO_BIN_EXE_chronicle"))
        .args(["admin", "--listen", "127.0.0.1:0", "--database-url"])
        .arg(support::database_url())
        .args(["--schema", bank.store.schema()])
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
