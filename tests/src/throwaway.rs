//! A Postgres cluster of a test's own, for tests that stop and restart the server: never the
//! shared one. It lives in a temporary directory, listens on 127.0.0.1 on a free port, and is
//! stopped and removed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A throwaway Postgres cluster.
pub struct ThrowawayPostgres {
    dir: PathBuf,
    port: u16,
}

/// Where Debian keeps the server binaries (`initdb`, `pg_ctl`).
fn server_binary(name: &str) -> PathBuf {
    let versions =
        std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL server binaries in /usr/lib/postgresql");
    let mut found: Vec<PathBuf> = versions
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path().join("bin").join(name))
        .filter(|path| path.exists())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no {name} under /usr/lib/postgresql/*/bin"))
}

/// Runs a server-side command as the `postgres` user when the tests run as root (the server
/// refuses to run as root), bounded in time by the command's own timeout flags.
fn as_postgres(program: &Path, args: &[&str]) -> std::process::Output {
    let root = is_root();
    let mut command = if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

impl ThrowawayPostgres {
    /// Creates and starts a cluster (trust authentication, user `postgres`), waiting until it
    /// accepts connections.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("chronicle-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:", dir.to_str().expect("a UTF-8 temp path")])
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "cannot give the cluster's directory to postgres"
            );
        }
        let cluster = Self {
            dir,
            port: free_port(),
        };
        let out = as_postgres(
            &server_binary("initdb"),
            &[
                "-D",
                cluster.data().to_str().expect("a UTF-8 path"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.start_again();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again), on the same port, waiting up to 30 s for it to accept
    /// connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        let out = as_postgres(
            &server_binary("pg_ctl"),
            &[
                "-D",
                self.data().to_str().expect("a UTF-8 path"),
                "-l",
                log.to_str().expect("a UTF-8 path"),
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: no clean shutdown, as a crash or a
    /// kill would), waiting up to 30 s.
    pub fn stop_immediately(&self) {
        let out = as_postgres(
            &server_binary("pg_ctl"),
            &[
                "-D",
                self.data().to_str().expect("a UTF-8 path"),
                "-m",
                "immediate",
                "-w",
                "-t",
                "30",
                "stop",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Restarts the server after `down`: stopped at once, then started again.
    pub async fn restart_after(&self, down: Duration) {
        self.stop_immediately();
        tokio::time::sleep(down).await;
        self.start_again();
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = as_postgres(
            &server_binary("pg_ctl"),
            &[
                "-D",
                self.data().to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "-w",
                "-t",
                "30",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
