//! The real brokers the relay tests publish to, and raw clients that read back what arrived.
//!
//! RabbitMQ is `CHRONICLE_TEST_RABBITMQ_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`),
//! NATS `CHRONICLE_TEST_NATS_URL` (default `127.0.0.1:4222`). Every test works on exchanges,
//! queues, streams and subjects of its own names, so tests run in parallel; a test that stops a
//! server starts a [`ThrowawayNats`] of its own. A broker that cannot be reached fails the tests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chronicle::message::header;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};

use crate::wait::eventually;

/// The RabbitMQ the tests use.
pub fn rabbitmq_url() -> String {
    std::env::var("CHRONICLE_TEST_RABBITMQ_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The NATS server the tests use.
pub fn nats_address() -> String {
    std::env::var("CHRONICLE_TEST_NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".to_owned())
}

/// A name no other test uses: `<prefix>_<random>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A message as a test reads it back: its headers as text, its body, and where it was routed.
#[derive(Debug, Clone)]
pub struct Received {
    /// The routing key (RabbitMQ) or subject (NATS).
    pub topic: String,
    /// The broker's message id.
    pub message_id: Option<String>,
    /// Chronicle's headers, by name.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
    /// Whether the message is persistent (RabbitMQ's delivery mode 2); `true` on NATS.
    pub persistent: bool,
    /// Its content type, when the broker has one.
    pub content_type: Option<String>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("message without header `{name}`: {self:?}"))
    }

    /// The event read back from it.
    pub fn event(&self) -> chronicle::RecordedEvent {
        chronicle::message::event_from(|name| self.headers.get(name).cloned(), &self.body)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// The event's position header.
    pub fn position(&self) -> u64 {
        self.header(header::POSITION).parse().expect("a position")
    }
}

/// A connection to the test RabbitMQ and a channel on it.
pub struct Rabbit {
    _connection: Connection,
    /// The channel.
    pub channel: Channel,
}

impl Rabbit {
    /// Connects to the test RabbitMQ, failing the test with what to do when it is not running.
    pub async fn connect() -> Self {
        Self::connect_to(&rabbitmq_url()).await
    }

    /// Connects to the RabbitMQ at `url`.
    pub async fn connect_to(url: &str) -> Self {
        let properties = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio);
        let connection = Connection::connect(url, properties).await.unwrap_or_else(|error| {
            panic!("cannot reach the test RabbitMQ at {url}: {error}\nstart it: /etc/init.d/rabbitmq-server start")
        });
        let channel = connection.create_channel().await.expect("a channel");
        Self {
            _connection: connection,
            channel,
        }
    }

    /// Declares a queue of its own bound to `exchange` with `pattern`, auto-deleted when this
    /// connection closes. The exchange must exist (a publisher's `connect` declares it).
    pub async fn bound_queue(&self, exchange: &str, pattern: &str) -> String {
        let queue = unique("q");
        self.channel
            .queue_declare(
                &queue,
                QueueDeclareOptions {
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare a queue");
        self.channel
            .queue_bind(
                &queue,
                exchange,
                pattern,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind the queue");
        queue
    }

    /// Declares a durable queue of its own, which outlives this connection and the broker's
    /// restarts, bound to `exchange` with `pattern`.
    pub async fn durable_queue(&self, exchange: &str, pattern: &str) -> String {
        let queue = unique("dq");
        self.channel
            .queue_declare(
                &queue,
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare a durable queue");
        self.channel
            .queue_bind(
                &queue,
                exchange,
                pattern,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind the queue");
        queue
    }

    /// Takes the next message off `queue`, if one is there now, and acknowledges it.
    pub async fn take(&self, queue: &str) -> Option<Received> {
        let message = self
            .channel
            .basic_get(queue, BasicGetOptions::default())
            .await
            .expect("basic.get")?;
        let delivery = message.delivery;
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        let properties = &delivery.properties;
        let mut headers = HashMap::new();
        if let Some(table) = properties.headers() {
            for (name, value) in table.inner() {
                if let AMQPValue::LongString(text) = value {
                    headers.insert(
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(text.as_bytes()).into_owned(),
                    );
                }
            }
        }
        Some(Received {
            topic: delivery.routing_key.as_str().to_owned(),
            message_id: properties.message_id().as_ref().map(|id| id.as_str().to_owned()),
            headers,
            body: delivery.data.clone(),
            persistent: *properties.delivery_mode() == Some(2),
            content_type: properties.content_type().as_ref().map(|t| t.as_str().to_owned()),
        })
    }

    /// Takes messages off `queue` until `count` have arrived, within the deadline.
    pub async fn take_n(&self, queue: &str, count: usize, deadline: Duration) -> Vec<Received> {
        let started = std::time::Instant::now();
        let mut received = Vec::new();
        loop {
            while let Some(message) = self.take(queue).await {
                received.push(message);
            }
            if received.len() >= count {
                return received;
            }
            assert!(
                started.elapsed() < deadline,
                "only {} of {count} messages on {queue} after {deadline:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Every message now in the JetStream stream `stream`, in stream order, read with an ephemeral
/// consumer.
pub async fn nats_stream_messages(address: &str, stream: &str) -> Vec<Received> {
    let client = async_nats::connect(address)
        .await
        .unwrap_or_else(|error| panic!("cannot reach NATS at {address}: {error}"));
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(stream).await.expect("the stream exists");
    let total = stream.info().await.expect("stream info").state.messages;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("an ephemeral consumer");
    let mut messages = consumer
        .fetch()
        .max_messages(usize::try_from(total).expect("a count").max(1))
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .expect("fetch");
    let mut received = Vec::new();
    while received.len() < usize::try_from(total).expect("a count") {
        let Some(message) = messages.next().await else {
            break;
        };
        let message = message.expect("a message");
        let mut headers = HashMap::new();
        if let Some(map) = &message.headers {
            for (name, values) in map.iter() {
                if let Some(value) = values.first() {
                    headers.insert(name.to_string(), value.as_str().to_owned());
                }
            }
        }
        received.push(Received {
            topic: message.subject.to_string(),
            message_id: headers.get("Nats-Msg-Id").cloned(),
            headers,
            body: message.payload.to_vec(),
            persistent: true,
            content_type: None,
        });
    }
    received
}

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
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on the PATH");
        self.child = Some(child);
        let address = self.address();
        eventually(
            "the throwaway NATS server answering",
            Duration::from_secs(10),
            || {
                let address = address.clone();
                async move { tokio::net::TcpStream::connect(address).await.ok().map(|_| ()) }
            },
        )
        .await;
    }

    /// Kills it (as a crash would) and waits for it to end.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
