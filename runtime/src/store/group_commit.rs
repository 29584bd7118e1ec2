//! Group commit: concurrent appends to different streams share one statement, one transaction
//! and one WAL flush.
//!
//! Each stream keeps its own optimistic check: the statement inserts a stream's events only if
//! the stream is still at the version its command decided on, so a stale stream is answered with
//! a conflict while the others' events are stored. If the statement fails as a whole (another
//! process won a race for a version, a re-submitted command's event id, a lost connection), every
//! append of the group is retried on its own, so one command's problem never fails another's.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::join_all;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot, Mutex, OnceCell};
use uuid::Uuid;

use super::postgres::{map_sqlx, EventColumns, PostgresStore};
use super::sql;
use super::{EventStore, NewEvent};
use crate::command::Receipt;
use crate::error::StoreError;

/// How a [`GroupCommitStore`] groups appends.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommit {
    /// The most commands one statement carries.
    pub max_batch: usize,
    /// How many group statements may be in flight at once (each on its own connection).
    pub committers: usize,
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self {
            max_batch: 256,
            committers: 2,
        }
    }
}

struct Request {
    stream_id: String,
    expected_version: u64,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Receipt, StoreError>>,
}

/// A [`PostgresStore`] whose appends are grouped: commands that arrive while a group statement is
/// in flight are written together by the next one. Build it with
/// [`PostgresStore::with_group_commit`]; reads go straight to the wrapped store.
#[derive(Clone)]
pub struct GroupCommitStore {
    store: PostgresStore,
    config: GroupCommit,
    sql: Arc<str>,
    queue: Arc<OnceCell<mpsc::UnboundedSender<Request>>>,
}

impl PostgresStore {
    /// Groups concurrent appends into shared statements (see [`GroupCommitStore`]).
    pub fn with_group_commit(self, config: GroupCommit) -> GroupCommitStore {
        let table = format!("\"{}\".chronicle_events", self.schema());
        let sql = format!(
            "INSERT INTO {table} \
                 (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
             SELECT e.stream_id, e.expected + e.ord, e.event_id, e.event_type, e.event_version, \
                    e.payload, e.metadata, e.command_id \
             FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::uuid[], $5::uuid[], $6::text[], \
                         $7::int[], $8::text[]::jsonb[], $9::text[]::jsonb[]) \
                 WITH ORDINALITY AS e(stream_id, expected, ord, command_id, event_id, event_type, \
                                      event_version, payload, metadata, n) \
             WHERE (SELECT COALESCE(MAX(stream_version), 0) FROM {table} s WHERE s.stream_id = e.stream_id) \
                   = e.expected \
             ORDER BY e.n \
             RETURNING stream_id, stream_version, position"
        );
        GroupCommitStore {
            store: self,
            config: GroupCommit {
                max_batch: config.max_batch.max(1),
                committers: config.committers.max(1),
            },
            sql: sql.into(),
            queue: Arc::default(),
        }
    }
}

impl GroupCommitStore {
    /// The wrapped store.
    pub fn store(&self) -> &PostgresStore {
        &self.store
    }

    /// The committers start with the first append, inside the caller's runtime.
    async fn queue(&self) -> &mpsc::UnboundedSender<Request> {
        self.queue
            .get_or_init(|| async {
                let (sender, receiver) = mpsc::unbounded_channel();
                let receiver = Arc::new(Mutex::new(receiver));
                for _ in 0..self.config.committers {
                    tokio::spawn(commit_loop(self.committer(), Arc::clone(&receiver)));
                }
                sender
            })
            .await
    }

    /// What a committer task needs; it does not hold the queue's sender, so the committers end
    /// when the last handle of the store is dropped.
    fn committer(&self) -> Committer {
        Committer {
            store: self.store.clone(),
            sql: Arc::clone(&self.sql),
            max_batch: self.config.max_batch,
        }
    }
}

struct Committer {
    store: PostgresStore,
    sql: Arc<str>,
    max_batch: usize,
}

async fn commit_loop(committer: Committer, receiver: Arc<Mutex<mpsc::UnboundedReceiver<Request>>>) {
    loop {
        let mut group = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            match receiver.recv().await {
                Some(first) => group.push(first),
                None => return,
            }
            while group.len() < committer.max_batch {
                match receiver.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
        }
        committer.commit(group).await;
    }
}

impl Committer {
    async fn commit(&self, group: Vec<Request>) {
        // Two commands on one stream in one group decided on the same version: the later one
        // goes into the next statement, where it meets its conflict like any other writer.
        let mut streams = HashSet::new();
        let (now, later): (Vec<_>, Vec<_>) = group
            .into_iter()
            .partition(|r| streams.insert(r.stream_id.clone()));
        self.commit_distinct(now).await;
        if !later.is_empty() {
            Box::pin(self.commit(later)).await;
        }
    }

    async fn commit_distinct(&self, group: Vec<Request>) {
        if group.len() == 1 {
            return self.one_by_one(group).await;
        }
        match self.insert_group(&group).await {
            Ok(mut stored) => {
                if !stored.is_empty() {
                    self.store.wake_subscribers();
                }
                for request in group {
                    let receipt = stored
                        .remove(&request.stream_id)
                        .ok_or_else(|| StoreError::Conflict {
                            stream_id: request.stream_id.clone(),
                            expected: request.expected_version,
                        });
                    let _ = request.reply.send(receipt);
                }
            }
            Err(error) => {
                tracing::debug!(%error, size = group.len(), "group append failed; appending one by one");
                self.one_by_one(group).await;
            }
        }
    }

    async fn one_by_one(&self, group: Vec<Request>) {
        join_all(group.into_iter().map(|request| async move {
            let result = self
                .store
                .append(&request.stream_id, request.expected_version, request.events)
                .await;
            let _ = request.reply.send(result);
        }))
        .await;
    }

    /// One statement for the whole group; the receipts of the streams that were written.
    async fn insert_group(&self, group: &[Request]) -> Result<HashMap<String, Receipt>, StoreError> {
        let total: usize = group.iter().map(|r| r.events.len()).sum();
        let mut stream_ids = Vec::with_capacity(total);
        let mut expected = Vec::with_capacity(total);
        let mut ordinals = Vec::with_capacity(total);
        let mut command_ids: Vec<Uuid> = Vec::with_capacity(total);
        let mut columns = EventColumns::with_capacity(total);
        for request in group {
            let version = i64::try_from(request.expected_version).map_err(|_| StoreError::Conflict {
                stream_id: request.stream_id.clone(),
                expected: request.expected_version,
            })?;
            for (ordinal, event) in (1_i64..).zip(&request.events) {
                stream_ids.push(request.stream_id.as_str());
                expected.push(version);
                ordinals.push(ordinal);
                command_ids.push(request.events[0].metadata.command_id);
                columns.push(event)?;
            }
        }
        let rows = self
            .store
            .fetch_all(
                sqlx::query(&self.sql)
                    .bind(&stream_ids)
                    .bind(&expected)
                    .bind(&ordinals)
                    .bind(&command_ids)
                    .bind(&columns.event_ids)
                    .bind(&columns.event_types)
                    .bind(&columns.event_versions)
                    .bind(&columns.payloads)
                    .bind(&columns.metadata),
            )
            .await?;
        let mut receipts: HashMap<String, Receipt> = HashMap::with_capacity(group.len());
        for row in rows {
            let stream_id: String = row.try_get(0).map_err(map_sqlx)?;
            let stream_version = sql::to_u64("stream_version", row.try_get(1).map_err(map_sqlx)?)?;
            let position = sql::to_u64("position", row.try_get(2).map_err(map_sqlx)?)?;
            let receipt = receipts.entry(stream_id.clone()).or_insert(Receipt {
                stream_id,
                stream_version,
                position: Some(position),
            });
            if stream_version >= receipt.stream_version {
                receipt.stream_version = stream_version;
                receipt.position = Some(position);
            }
        }
        Ok(receipts)
    }
}

impl EventStore for GroupCommitStore {
    async fn append(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Receipt, StoreError> {
        if events.is_empty() {
            return self.store.append(stream_id, expected_version, events).await;
        }
        let (reply, answer) = oneshot::channel();
        let request = Request {
            stream_id: stream_id.to_owned(),
            expected_version,
            events,
            reply,
        };
        if let Err(mpsc::error::SendError(request)) = self.queue().await.send(request) {
            return self
                .store
                .append(stream_id, expected_version, request.events)
                .await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the group committer stopped before answering".into(),
            ))
        })
    }

    forward_reads_to!(store);
}

forward_event_source!(GroupCommitStore, store);
