//! [`NatsPublisher`]: events to a JetStream stream, each acknowledged by the server, the event
//! id as `Nats-Msg-Id` so that a re-publish inside the stream's duplicate window is stored once.

use std::fmt;
use std::time::Duration;

use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::{self, context::Context, stream};
use async_nats::{HeaderMap, HeaderValue};
use tokio::sync::Mutex;

use crate::core::error::BoxError;
use crate::core::future::BoxFuture;
use crate::core::message::Message;
use crate::core::publish::{PublishError, Publisher};
use crate::core::store::RecordedEvent;

/// Publishes events to NATS JetStream: one message per event on the subject
/// `<prefix>.<aggregate>.<event type>` ([`topic`](crate::message::topic)), to a file-backed
/// stream capturing `<prefix>.>` (created if missing), with the event id as `Nats-Msg-Id`,
/// Chronicle's headers ([`header`](crate::message::header)) and the payload as body. A batch
/// counts as published once the server acknowledged every message of it.
///
/// It connects on first use, and again (making sure the stream exists) after any failure; a
/// batch whose acknowledgements did not come in time is published again, and the server drops
/// the copies it already has, by message id.
pub struct NatsPublisher {
    address: String,
    stream: String,
    prefix: String,
    duplicate_window: Duration,
    timeout: Duration,
    link: Mutex<Option<Link>>,
}

struct Link {
    context: Context,
    max_payload: usize,
}

impl fmt::Debug for NatsPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsPublisher")
            .field("address", &self.address)
            .field("stream", &self.stream)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl NatsPublisher {
    /// The JetStream stream events are published to unless [`stream`](Self::stream) says
    /// otherwise.
    pub const DEFAULT_STREAM: &'static str = "CHRONICLE";
    /// The first token of every subject unless [`subject_prefix`](Self::subject_prefix) says
    /// otherwise.
    pub const DEFAULT_SUBJECT_PREFIX: &'static str = "chronicle";
    /// How long connecting, and the acknowledgements of one batch, may take before the server
    /// counts as unavailable, unless [`timeout`](Self::timeout) says otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long the server remembers a message id to drop a re-publish of it, for a stream this
    /// publisher creates, unless [`duplicate_window`](Self::duplicate_window) says otherwise.
    pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

    /// A publisher to the server at `address` (`127.0.0.1:4222`), to the stream
    /// [`DEFAULT_STREAM`](Self::DEFAULT_STREAM) with subjects under
    /// [`DEFAULT_SUBJECT_PREFIX`](Self::DEFAULT_SUBJECT_PREFIX). Nothing is connected
    /// yet.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            stream: Self::DEFAULT_STREAM.to_owned(),
            prefix: Self::DEFAULT_SUBJECT_PREFIX.to_owned(),
            duplicate_window: Self::DEFAULT_DUPLICATE_WINDOW,
            timeout: Self::DEFAULT_TIMEOUT,
            link: Mutex::new(None),
        }
    }

    /// Publishes to the JetStream stream `name` (created if missing).
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// Subjects begin with `prefix` (one or more tokens, no wildcards).
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The duplicate window of a stream this publisher creates. Default 2 minutes.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// How long connecting, and the acknowledgements of one batch, may take. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// Connects now (creating the stream if missing) instead of on first use: a clear error at
    /// start when the server cannot be reached.
    pub async fn connect(&self) -> Result<(), PublishError> {
        let mut link = self.link.lock().await;
        if link.is_none() {
            *link = Some(self.open().await?);
        }
        Ok(())
    }

    fn unavailable(&self, source: impl Into<BoxError>) -> PublishError {
        PublishError::unavailable(self.broker(), source)
    }

    async fn open(&self) -> Result<Link, PublishError> {
        let client = async_nats::ConnectOptions::new()
            .name("chronicle-relay")
            .connection_timeout(self.timeout)
            .connect(self.address.as_str())
            .await
            .map_err(|error| self.unavailable(error))?;
        let max_payload = client.server_info().max_payload;
        let context = jetstream::new(client);
        match ensure_stream(&context, &self.stream, &self.prefix, self.duplicate_window).await {
            Ok(_stream) => Ok(Link { context, max_payload }),
            Err(StreamProblem::Unreachable(error)) => Err(self.unavailable(error)),
            Err(problem @ StreamProblem::CapturesOther { .. }) => Err(self.unavailable(problem.to_string())),
        }
    }

    async fn send(&self, link: &Link, events: &[RecordedEvent]) -> Result<(), PublishError> {
        let mut acks = Vec::with_capacity(events.len());
        for event in events {
            let message = Message::of(event);
            let body = message.body();
            if body.len() > link.max_payload {
                return Err(PublishError::unpublishable(
                    self.broker(),
                    event,
                    format!(
                        "its payload is {} bytes, over the server's {}",
                        body.len(),
                        link.max_payload
                    ),
                ));
            }
            let mut headers = HeaderMap::new();
            headers.insert(NATS_MESSAGE_ID, event.event_id.to_string().as_str());
            for (name, value) in &message.headers {
                // Escaped values hold no line breaks, the one thing a header value cannot carry.
                let value: HeaderValue = value.parse().map_err(|_| {
                    PublishError::unpublishable(
                        self.broker(),
                        event,
                        format!("header `{name}` cannot be carried"),
                    )
                })?;
                headers.insert(*name, value);
            }
            let subject = format!("{}.{}", self.prefix, message.topic);
            let ack = link
                .context
                .publish_with_headers(subject, headers, body.to_vec().into())
                .await
                .map_err(|error| self.unavailable(error))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(|error| self.unavailable(error))?;
        }
        Ok(())
    }
}

impl Publisher for NatsPublisher {
    fn broker(&self) -> String {
        format!("NATS JetStream at {}", self.address)
    }

    fn publish<'a>(&'a self, events: &'a [RecordedEvent]) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let mut link = self.link.lock().await;
            if link.is_none() {
                *link = Some(self.open().await?);
            }
            let Some(open) = &*link else {
                return Err(self.unavailable("not connected"));
            };
            let sent = match tokio::time::timeout(self.timeout, self.send(open, events)).await {
                Ok(sent) => sent,
                Err(_elapsed) => Err(self.unavailable(format!(
                    "{} messages not acknowledged within {:?}",
                    events.len(),
                    self.timeout
                ))),
            };
            if matches!(sent, Err(PublishError::Unavailable { .. })) {
                // The client reconnects by itself, but the stream may be what went away (deleted,
                // or a server that came back without it): the next batch connects afresh and
                // makes sure the stream is there.
                *link = None;
            }
            sent
        })
    }
}

/// Why [`ensure_stream`] has no stream to give.
#[derive(Debug)]
pub(super) enum StreamProblem {
    /// The server did not answer, or refused to create it.
    Unreachable(BoxError),
    /// It exists, but does not capture the subjects under the prefix.
    CapturesOther {
        /// Its name.
        stream: String,
        /// What it captures.
        captured: Vec<String>,
        /// What it would have to.
        subjects: String,
    },
}

impl fmt::Display for StreamProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(error) => error.fmt(f),
            Self::CapturesOther {
                stream,
                captured,
                subjects,
            } => write!(
                f,
                "the stream `{stream}` exists and captures {captured:?}, not `{subjects}`"
            ),
        }
    }
}

/// The stream `name` capturing `<prefix>.>`, created file-backed with `duplicate_window` if
/// missing: the publisher's and the subscriber's stream alike. An existing stream is taken as it
/// is; it must capture the subjects published to.
pub(super) async fn ensure_stream(
    context: &Context,
    name: &str,
    prefix: &str,
    duplicate_window: Duration,
) -> Result<stream::Stream, StreamProblem> {
    let subjects = format!("{prefix}.>");
    let stream = context
        .get_or_create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![subjects.clone()],
            duplicate_window,
            storage: stream::StorageType::File,
            ..stream::Config::default()
        })
        .await
        .map_err(|error| StreamProblem::Unreachable(error.into()))?;
    let captured = &stream.cached_info().config.subjects;
    if !captured
        .iter()
        .any(|subject| *subject == subjects || subject == ">")
    {
        return Err(StreamProblem::CapturesOther {
            stream: name.to_owned(),
            captured: captured.clone(),
            subjects,
        });
    }
    Ok(stream)
}
