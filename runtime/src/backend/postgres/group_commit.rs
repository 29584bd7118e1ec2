//! Group commit: concurrent appends to different streams share one statement, one transaction
//! and one WAL flush.
//!
//! Each stream keeps its own optimistic check: the statement inserts a stream's events only if
//! the stream is still at the version its command decided on, so a stale stream is answered with
//! a conflict while the others' events are stored. If the statement fails as a whole (another
//! process won a race for a version, a re-submitted command's event id, an inline projection's
//! handler, a lost connection), every append of the group is retried on its own, so one
//! command's problem never fails another's.
//!
//! Grouping decides by itself whether it pays: an append made while fewer than
//! [`GroupCommit::direct_below`] others are in flight goes to the database at once, on the
//! caller's task, as without group commit (nothing to group with, and no hop through a
//! committer); only when more are waiting do they queue and share statements. So turning group
//! commit on costs nothing at low concurrency and pays where the database's commits, not the
//! clients, are the limit.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::future::join_all;
use tokio::sync::{mpsc, oneshot, Mutex, OnceCell};

use super::append::{receipt, Command};
use super::database::Database;
use crate::core::error::StoreError;
use crate::core::store::{NewEvent, Receipt};
use crate::core::tenant::Tenant;

/// How [`PostgresStore::with_group_commit`](crate::PostgresStore::with_group_commit) groups
/// appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// The most commands one statement carries.
    pub max_batch: usize,
    /// How many group statements may be in flight at once (each on its own connection).
    pub committers: usize,
    /// Appends made while fewer than this many others are in flight through the store go to
    /// the database at once, alone; `0` groups every append.
    pub direct_below: usize,
}

impl Default for GroupCommit {
    /// Groups of up to 256 commands, 2 committers, and appends alone below 8 in flight (measured
    /// in the benchmark harness: at 8 clients and fewer, grouping costs more than it saves).
    fn default() -> Self {
        Self {
            max_batch: 256,
            committers: 2,
            direct_below: 8,
        }
    }
}

struct Request {
    tenant: Tenant,
    stream_id: String,
    expected_version: u64,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Receipt, StoreError>>,
}

/// The queue of a store with group commit, and the committer tasks that drain it.
pub(super) struct GroupCommitter {
    /// What the committers append with: the store's database.
    store: Database,
    config: GroupCommit,
    queue: OnceCell<mpsc::UnboundedSender<Request>>,
    /// Appends in flight through this store, direct or queued.
    in_flight: Arc<AtomicUsize>,
}

impl GroupCommitter {
    pub(super) fn new(store: Database, config: GroupCommit) -> Self {
        Self {
            store,
            config: GroupCommit {
                max_batch: config.max_batch.max(1),
                committers: config.committers.max(1),
                direct_below: config.direct_below,
            },
            queue: OnceCell::new(),
            in_flight: Arc::default(),
        }
    }

    pub(super) fn config(&self) -> GroupCommit {
        self.config
    }

    /// Appends one command through the next group statement.
    pub(super) async fn append(
        &self,
        tenant: &Tenant,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        let in_flight = InFlight::count(&self.in_flight);
        if in_flight.others < self.config.direct_below {
            return self
                .store
                .append_alone(tenant, stream_id, expected_version, &events)
                .await;
        }
        let (reply, answer) = oneshot::channel();
        let request = Request {
            tenant: tenant.clone(),
            stream_id: stream_id.to_owned(),
            expected_version,
            events,
            reply,
        };
        if let Err(mpsc::error::SendError(request)) = self.queue().await.send(request) {
            return self
                .store
                .append_alone(tenant, stream_id, expected_version, &request.events)
                .await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the group committer stopped before answering".into(),
            ))
        })
    }

    /// The committers start with the first append, inside the caller's runtime. They hold no
    /// sender of the queue, so they end when the last handle of the store is dropped.
    async fn queue(&self) -> &mpsc::UnboundedSender<Request> {
        self.queue
            .get_or_init(|| async {
                let (sender, receiver) = mpsc::unbounded_channel();
                let receiver = Arc::new(Mutex::new(receiver));
                for _ in 0..self.config.committers {
                    let committer = Committer {
                        store: self.store.clone(),
                        max_batch: self.config.max_batch,
                    };
                    tokio::spawn(committer.run(Arc::clone(&receiver)));
                }
                sender
            })
            .await
    }
}

/// One append in flight, counted for as long as it lasts.
struct InFlight {
    counter: Arc<AtomicUsize>,
    /// How many others were in flight when it began.
    others: usize,
}

impl InFlight {
    fn count(counter: &Arc<AtomicUsize>) -> Self {
        Self {
            others: counter.fetch_add(1, Ordering::AcqRel),
            counter: Arc::clone(counter),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Committer {
    store: Database,
    max_batch: usize,
}

impl Committer {
    async fn run(self, receiver: Arc<Mutex<mpsc::UnboundedReceiver<Request>>>) {
        loop {
            let mut group = Vec::new();
            {
                let mut receiver = receiver.lock().await;
                match receiver.recv().await {
                    Some(first) => group.push(first),
                    None => return,
                }
                while group.len() < self.max_batch {
                    match receiver.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
            }
            self.commit(group).await;
        }
    }

    async fn commit(&self, group: Vec<Request>) {
        // Two commands on one tenant's stream in one group decided on the same version: the later one
        // goes into the next statement, where it meets its conflict like any other writer.
        let mut streams = HashSet::new();
        let (now, later): (Vec<_>, Vec<_>) = group
            .into_iter()
            .partition(|r| streams.insert((r.tenant.clone(), r.stream_id.clone())));
        self.commit_distinct(now).await;
        if !later.is_empty() {
            Box::pin(self.commit(later)).await;
        }
    }

    async fn commit_distinct(&self, group: Vec<Request>) {
        if group.len() == 1 {
            return self.one_by_one(group).await;
        }
        let commands: Vec<Command<'_>> = group
            .iter()
            .map(|request| Command {
                tenant: request.tenant.as_str(),
                stream_id: &request.stream_id,
                expected: request.expected_version,
                events: &request.events,
            })
            .collect();
        let written = self.store.write(&commands).await;
        match written {
            Ok(inserted) => {
                let receipts: Vec<_> = commands
                    .iter()
                    .map(|command| receipt(command, &inserted))
                    .collect();
                drop(commands);
                for (request, receipt) in group.into_iter().zip(receipts) {
                    let _ = request.reply.send(receipt);
                }
            }
            Err(failure) => {
                drop(commands);
                let error = StoreError::from(failure);
                tracing::debug!(%error, size = group.len(), "group append failed; appending one by one");
                self.one_by_one(group).await;
            }
        }
    }

    async fn one_by_one(&self, group: Vec<Request>) {
        join_all(group.into_iter().map(|request| async move {
            let result = self
                .store
                .append_alone(
                    &request.tenant,
                    &request.stream_id,
                    request.expected_version,
                    &request.events,
                )
                .await;
            let _ = request.reply.send(result);
        }))
        .await;
    }
}
