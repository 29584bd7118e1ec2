//! What handlers write with ([`RedisWrites`]), the transaction that applies it
//! ([`RedisTransaction`]), and the read methods of a query's [`ReadOnly`].

use std::collections::HashMap;
use std::sync::Arc;

use ::redis::aio::MultiplexedConnection;
use ::redis::{Cmd, FromRedisValue, Value};

use super::errors::read_store_error;
use crate::core::query::ReadOnly;
use crate::core::read_store::{ReadStoreError, ReadTransaction};

/// The commands [`RedisWrites::read`] runs: those that only read (none with a `STORE` option).
const READING_COMMANDS: &[&str] = &[
    "EXISTS",
    "TYPE",
    "TTL",
    "PTTL",
    "GET",
    "MGET",
    "STRLEN",
    "GETRANGE",
    "HGET",
    "HMGET",
    "HGETALL",
    "HEXISTS",
    "HLEN",
    "HKEYS",
    "HVALS",
    "HSTRLEN",
    "HSCAN",
    "LRANGE",
    "LLEN",
    "LINDEX",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SSCAN",
    "ZRANGE",
    "ZREVRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGEBYLEX",
    "ZSCORE",
    "ZMSCORE",
    "ZRANK",
    "ZREVRANK",
    "ZCARD",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZSCAN",
    "XRANGE",
    "XREVRANGE",
    "XLEN",
    "SCAN",
    "SORT_RO",
];

/// The commands [`RedisWrites::queue`] refuses in any transaction: they would end, nest or
/// escape the transaction it sends the queue in.
const TRANSACTION_COMMANDS: &[&str] = &[
    "", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "RESET", "SELECT", "QUIT",
];

/// What a projection handler writing to Redis is handed: commands queued now and applied at the
/// transaction's commit, all at once (`MULTI` ... `EXEC`) together with the projection's new
/// checkpoint, and reads of the values committed so far.
///
/// ```ignore
/// db.queue(redis::cmd("ZINCRBY").arg("leaderboard").arg(amount).arg(&event.account_id))?;
/// let score: Option<f64> = db.read(redis::cmd("ZSCORE").arg("leaderboard").arg(&id)).await?;
/// ```
///
/// **Reads do not see the transaction's own queued writes**: they go to the server at once,
/// while the queued commands only reach it at the commit. A handler that needs a value it wrote
/// earlier in the batch keeps it itself.
///
/// Redis does not undo a transaction whose command failed when it ran (a `ZINCRBY` on a key that
/// holds a string, say): the others still apply. Queue only commands that cannot fail that way on
/// keys the read model owns. A transaction dropped or rolled back sends nothing.
///
/// In a query's transaction (read-only), [`queue`](Self::queue) refuses every command.
///
/// **Name the read model's keys through [`key`](Self::key)** (`db.key("leaderboard")`): on a
/// blue/green location it puts them under the location's namespace, so that each version builds
/// its own keys and a dropped location takes them along; on a store that is not a location it
/// returns the name unchanged.
pub struct RedisWrites {
    connection: MultiplexedConnection,
    /// What [`key`](Self::key) puts before a read model's key name: `None` outside a location.
    namespace: Option<Arc<str>>,
    queued: Vec<Cmd>,
    read_only: bool,
    watching: bool,
    /// The stream versions consumers recorded in this transaction (`None`: forgotten), which
    /// its reads must see although the writes are only queued.
    consumed: HashMap<String, ConsumedOverlay>,
}

/// What one consumer recorded in a transaction.
#[derive(Debug, Default)]
struct ConsumedOverlay {
    forgotten: bool,
    versions: HashMap<String, u64>,
}

impl std::fmt::Debug for RedisWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWrites")
            .field("queued", &self.queued.len())
            .field("read_only", &self.read_only)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The key of the read model called `name` under `namespace` (unchanged without one).
pub(crate) fn model_key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}{name}"),
        None => name.to_owned(),
    }
}

/// The name of `command`, upper-cased (empty for a command without arguments).
fn command_name(command: &Cmd) -> String {
    command
        .args_iter()
        .next()
        .map(|arg| match arg {
            ::redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).to_ascii_uppercase(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

impl RedisWrites {
    pub(crate) fn new(
        connection: MultiplexedConnection,
        read_only: bool,
        namespace: Option<Arc<str>>,
    ) -> Self {
        Self {
            connection,
            namespace,
            queued: Vec::new(),
            read_only,
            watching: false,
            consumed: HashMap::new(),
        }
    }

    /// Queues `command`, to run at the commit inside `MULTI`/`EXEC`. An error in a query's
    /// (read-only) transaction, where nothing is ever written, and for the commands that would
    /// break the transaction (`MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`, `RESET`, `SELECT`,
    /// `QUIT`, or none at all).
    pub fn queue(&mut self, command: &Cmd) -> Result<&mut Self, ReadStoreError> {
        let name = command_name(command);
        if self.read_only {
            return Err(ReadStoreError::Database(
                format!("`{name}` refused: a query's transaction cannot write").into(),
            ));
        }
        if TRANSACTION_COMMANDS.contains(&name.as_str()) {
            return Err(ReadStoreError::Database(
                format!("`{name}` refused: the commit sends the queue in a transaction of its own").into(),
            ));
        }
        self.queued.push(command.clone());
        Ok(self)
    }

    /// The key of the read model called `name` in this store: `name` under the location's
    /// namespace on a blue/green location (`<prefix>:bg:<location>:model:<name>`), `name`
    /// unchanged on a store that is not a location (so that handlers written before locations
    /// keep their keys). Handlers, `#[reset]` and queries that name every key of the read model
    /// through it can be rebuilt blue/green; a key named otherwise is shared by every version.
    pub fn key(&self, name: &str) -> String {
        model_key(self.namespace.as_deref(), name)
    }

    /// How many commands are queued.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// Whether this is a query's transaction, which cannot write.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Runs a reading command (`GET`, `HGETALL`, `ZREVRANGE`, `ZSCORE`, `SCAN` and the other
    /// commands of Redis that only read) now, on committed values; any other command is refused
    /// without reaching the server. Queued writes are not visible.
    pub async fn read<T: FromRedisValue + Send>(&mut self, command: &Cmd) -> Result<T, ReadStoreError> {
        let name = command_name(command);
        if !READING_COMMANDS.contains(&name.as_str()) {
            return Err(ReadStoreError::Database(
                format!("`{name}` is not a reading command: write through `RedisWrites::queue`").into(),
            ));
        }
        command
            .query_async(&mut self.connection)
            .await
            .map_err(read_store_error)
    }

    /// The string at `key`, if any (`GET`).
    pub async fn get(&mut self, key: &str) -> Result<Option<String>, ReadStoreError> {
        self.read(::redis::cmd("GET").arg(key)).await
    }

    /// The field `field` of the hash at `key`, if any (`HGET`).
    pub async fn hget(&mut self, key: &str, field: &str) -> Result<Option<String>, ReadStoreError> {
        self.read(::redis::cmd("HGET").arg(key).arg(field)).await
    }

    /// The score of `member` in the sorted set at `key`, if any (`ZSCORE`).
    pub async fn zscore(&mut self, key: &str, member: &str) -> Result<Option<f64>, ReadStoreError> {
        self.read(::redis::cmd("ZSCORE").arg(key).arg(member)).await
    }

    /// The members of the sorted set at `key` ranked `start..=stop` from the highest score, with
    /// their scores (`ZREVRANGE .. WITHSCORES`; negative ranks count from the end).
    pub async fn zrevrange_with_scores(
        &mut self,
        key: &str,
        start: isize,
        stop: isize,
    ) -> Result<Vec<(String, f64)>, ReadStoreError> {
        self.read(
            ::redis::cmd("ZREVRANGE")
                .arg(key)
                .arg(start)
                .arg(stop)
                .arg("WITHSCORES"),
        )
        .await
    }

    /// Runs any command on the connection now, bypassing the queue (Chronicle's own keys).
    pub(crate) async fn raw<T: FromRedisValue + Send>(&mut self, command: &Cmd) -> Result<T, ReadStoreError> {
        command
            .query_async(&mut self.connection)
            .await
            .map_err(read_store_error)
    }

    /// Watches `key` until the commit (or the rollback): an `EXEC` after another client changed it
    /// is aborted.
    pub(crate) async fn watch(&mut self, key: &str) -> Result<(), ReadStoreError> {
        self.watching = true;
        self.raw::<()>(::redis::cmd("WATCH").arg(key)).await
    }

    /// What this transaction recorded for `stream_id` of `consumer`: `Some(None)` when it forgot
    /// the consumer's versions, `None` when it recorded nothing.
    pub(crate) fn pending_consumed(&self, consumer: &str, stream_id: &str) -> Option<Option<u64>> {
        let overlay = self.consumed.get(consumer)?;
        match overlay.versions.get(stream_id) {
            Some(version) => Some(Some(*version)),
            None if overlay.forgotten => Some(None),
            None => None,
        }
    }

    pub(crate) fn record_consumed(&mut self, consumer: &str, stream_id: &str, version: u64) {
        self.consumed
            .entry(consumer.to_owned())
            .or_default()
            .versions
            .insert(stream_id.to_owned(), version);
    }

    pub(crate) fn forget_consumed(&mut self, consumer: &str) {
        let overlay = self.consumed.entry(consumer.to_owned()).or_default();
        overlay.forgotten = true;
        overlay.versions.clear();
    }

    /// Queues one of Chronicle's own writes.
    pub(crate) fn queue_own(&mut self, command: Cmd) -> Result<(), ReadStoreError> {
        if self.read_only {
            return Err(ReadStoreError::Database(
                "a query's transaction cannot write".into(),
            ));
        }
        self.queued.push(command);
        Ok(())
    }
}

/// A transaction of [`RedisReadStore`](crate::RedisReadStore): the queued commands of its
/// [`RedisWrites`], applied at [`commit`](ReadTransaction::commit) in one `MULTI`/`EXEC`, which
/// Redis aborts when a key watched by a fenced checkpoint or consumer save changed meanwhile (the
/// commit then fails with a transient [`ReadStoreError::Unavailable`], and the runner tries
/// again). Dropped or rolled back, it sends nothing.
#[derive(Debug)]
pub struct RedisTransaction {
    writes: RedisWrites,
}

impl RedisTransaction {
    pub(crate) fn new(writes: RedisWrites) -> Self {
        Self { writes }
    }
}

impl ReadTransaction for RedisTransaction {
    type Connection = RedisWrites;

    fn connection(&mut self) -> &mut RedisWrites {
        &mut self.writes
    }

    async fn commit(mut self) -> Result<(), ReadStoreError> {
        let writes = &mut self.writes;
        if writes.queued.is_empty() {
            if writes.watching {
                writes.raw::<()>(&::redis::cmd("UNWATCH")).await?;
            }
            return Ok(());
        }
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for command in writes.queued.drain(..) {
            pipe.add_command(command);
        }
        let outcome: Value = pipe
            .query_async(&mut writes.connection)
            .await
            .map_err(read_store_error)?;
        if outcome == Value::Nil {
            return Err(ReadStoreError::Unavailable(
                "EXEC aborted: another client changed a watched checkpoint or consumer key".into(),
            ));
        }
        Ok(())
    }

    async fn rollback(mut self) -> Result<(), ReadStoreError> {
        self.writes.queued.clear();
        if self.writes.watching {
            self.writes.raw::<()>(&::redis::cmd("UNWATCH")).await?;
        }
        Ok(())
    }
}

/// The reading methods of a query on a [`RedisReadStore`](crate::RedisReadStore): the same as
/// [`RedisWrites`]'s, on committed values; there is no way to queue a write.
impl ReadOnly<'_, RedisWrites> {
    /// The key of the read model called `name` in the store queried (see [`RedisWrites::key`]):
    /// under the location's namespace on a blue/green location, `name` unchanged otherwise.
    pub fn key(&self, name: &str) -> String {
        self.connection().key(name)
    }

    /// Runs a reading command (see [`RedisWrites::read`]); any other command is refused without
    /// reaching the server.
    pub async fn read<T: FromRedisValue + Send>(&mut self, command: &Cmd) -> Result<T, ReadStoreError> {
        self.connection_mut().read(command).await
    }

    /// The string at `key`, if any (`GET`).
    pub async fn get(&mut self, key: &str) -> Result<Option<String>, ReadStoreError> {
        self.connection_mut().get(key).await
    }

    /// The field `field` of the hash at `key`, if any (`HGET`).
    pub async fn hget(&mut self, key: &str, field: &str) -> Result<Option<String>, ReadStoreError> {
        self.connection_mut().hget(key, field).await
    }

    /// The score of `member` in the sorted set at `key`, if any (`ZSCORE`).
    pub async fn zscore(&mut self, key: &str, member: &str) -> Result<Option<f64>, ReadStoreError> {
        self.connection_mut().zscore(key, member).await
    }

    /// The members ranked `start..=stop` from the highest score, with their scores (see
    /// [`RedisWrites::zrevrange_with_scores`]).
    pub async fn zrevrange_with_scores(
        &mut self,
        key: &str,
        start: isize,
        stop: isize,
    ) -> Result<Vec<(String, f64)>, ReadStoreError> {
        self.connection_mut()
            .zrevrange_with_scores(key, start, stop)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names() {
        assert_eq!(command_name(::redis::cmd("zrevrange").arg("k")), "ZREVRANGE");
        assert!(READING_COMMANDS.contains(&command_name(&::redis::cmd("hgetall")).as_str()));
        assert!(!READING_COMMANDS.contains(&command_name(&::redis::cmd("ZINCRBY")).as_str()));
        assert_eq!(command_name(&::redis::Cmd::new()), "");
        assert!(TRANSACTION_COMMANDS.contains(&command_name(&::redis::cmd("exec")).as_str()));
    }
}
