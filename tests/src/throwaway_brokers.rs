//! Brokers of a test's own, for the tests that stop and start them: a NATS server and a
//! RabbitMQ node on free ports of 127.0.0.1, with their data in temporary directories, never the
//! shared ones.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::eventually;

/// A NATS server with JetStream of a test's own, on a free port of 127.0.0.1, keeping its store
/// in a temporary directory across [`stop`](Self::stop) and [`start`](Self::start); killed and
/// removed when dropped.
pub struct ThrowawayNats {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl ThrowawayNats {
    /// A server on a free port, not started yet.
    pub fn new() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("chronicle-nats-{}", uuid::Uuid::new_v4().simple()));
        Self {
            port,
            dir,
            child: None,
        }
    }

    /// Its address.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts it and waits until it accepts connections.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "already started");
        let mut command = Command::new("nats-server");
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.dir);
        self.child = Some(start_listening(command, "the throwaway NATS server", self.address()).await);
    }

    /// Kills it (as a crash would) and waits for it to end.
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }
}

impl Default for ThrowawayNats {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ThrowawayNats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A RabbitMQ node of a test's own: its own node name, ports on 127.0.0.1 and data directory,
/// started with the system's `rabbitmq-server` (as the `rabbitmq` user, which the server
/// script switches to), so that a test may stop and start it; stopped and removed when dropped.
/// Starting one takes some ten seconds.
pub struct ThrowawayRabbit {
    port: u16,
    dist_port: u16,
    node: String,
    dir: PathBuf,
    running: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

impl ThrowawayRabbit {
    /// A node on free ports, not started yet.
    pub fn new() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("chronicle-rabbit-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("mnesia")).expect("the node's directory");
        std::fs::create_dir_all(dir.join("log")).expect("the node's log directory");
        // The system configuration pins port 5672; this one says where this node listens.
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\n"),
        )
        .expect("its configuration");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("its plugins file");
        let owned = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&dir)
            .status()
            .expect("chown");
        assert!(
            owned.success(),
            "cannot give the node's directory to the rabbitmq user"
        );
        Self {
            port,
            dist_port: free_port(),
            node: format!("chronicle{port}@localhost"),
            dir,
            running: false,
        }
    }

    /// Its AMQP URL.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("timeout");
        command
            .arg("90")
            .arg(program)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", self.dir.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// Starts it and waits until it accepts AMQP connections.
    pub async fn start(&mut self) {
        let started = self
            .command("rabbitmq-server")
            .arg("-detached")
            .status()
            .expect("rabbitmq-server");
        assert!(started.success(), "rabbitmq-server -detached failed");
        self.running = true;
        let waited = self
            .command("rabbitmqctl")
            .args(["-n", &self.node, "wait", "--timeout", "60"])
            .arg(self.dir.join("pid"))
            .status()
            .expect("rabbitmqctl wait");
        assert!(waited.success(), "the throwaway RabbitMQ node did not start");
        let address = format!("127.0.0.1:{}", self.port);
        eventually(
            "the throwaway RabbitMQ answering",
            Duration::from_secs(30),
            || {
                let address = address.clone();
                async move { tokio::net::TcpStream::connect(address).await.ok().map(|_| ()) }
            },
        )
        .await;
    }

    /// Stops it (cleanly, as its init script would) and waits until it is gone.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let _ = self
            .command("rabbitmqctl")
            .args(["-n", &self.node, "stop"])
            .arg(self.dir.join("pid"))
            .status();
        self.running = false;
    }
}

impl Default for ThrowawayRabbit {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ThrowawayRabbit {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server of a test's own, on a free port of 127.0.0.1, keeping nothing on disk
/// (`--save ''`, no AOF): a restart forgets everything, as a crash of such a server does;
/// killed when dropped.
pub struct ThrowawayRedis {
    port: u16,
    child: Option<Child>,
}

impl ThrowawayRedis {
    /// A server on a free port, not started yet.
    pub fn new() -> Self {
        Self {
            port: free_port(),
            child: None,
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it and waits until it accepts connections.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "already started");
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"]);
        let address = format!("127.0.0.1:{}", self.port);
        self.child = Some(start_listening(command, "the throwaway Redis server", address).await);
    }

    /// Kills it (as a crash would) and waits for it to end.
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }
}

impl Default for ThrowawayRedis {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `command` (its output discarded) and waits until `address` accepts connections;
/// `what` names the server when it does not within 10 s.
async fn start_listening(mut command: Command, what: &str, address: String) -> Child {
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("{program} on the PATH: {error}"));
    eventually(&format!("{what} answering"), Duration::from_secs(10), || {
        let address = address.clone();
        async move { tokio::net::TcpStream::connect(address).await.ok().map(|_| ()) }
    })
    .await;
    child
}

/// Kills the server (as a crash would), if it runs, and waits for it to end.
fn kill(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
