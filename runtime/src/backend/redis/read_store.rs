//! Read models in Redis (7 or later).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Client, Cmd, Script};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{model_key, RedisTransaction, RedisWrites};
use super::errors::{handler_error_is_transient, read_store_error};
use crate::core::error::HandlerError;
use crate::core::read_store::{
    CheckpointRow, ConsumerRow, DeadLetter, DeadLetters, ReadConnection, ReadStore, ReadStoreError,
};
use crate::core::source::Checkpoint;

/// The key prefix of a store built without [`RedisReadStore::prefix`].
const DEFAULT_PREFIX: &str = "chronicle";
/// The layout of Chronicle's keys, recorded by [`RedisReadStore::migrate`].
const LAYOUT: &str = "1";
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a command may wait for its answer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes the lease (`SET NX PX`), or renews it when `owner` already holds it.
const TRY_LEAD: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0";
/// Renews the lease if `owner` holds it.
const KEEP_LEAD: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0";
/// Deletes the lease if `owner` holds it.
const RELEASE_LEAD: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";
/// Marks the dead letter at position `ARGV[1]` of hash `KEYS[1]` for a retry (in hash `KEYS[2]`,
/// at time `ARGV[2]`), if there is such a letter.
const REQUEST_RETRY: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) return 1 end
return 0";

/// Read models in Redis: for applications whose views (leaderboards, counters, caches of
/// documents) live in Redis while the events stay in Postgres or SQLite.
///
/// Chronicle's keys start with a prefix (`chronicle`, or [`prefix`](Self::prefix)):
/// `<prefix>:checkpoint:<projection>` (a hash: version, transaction id, position),
/// `<prefix>:lease:<projection>` (the active runner's id, expiring), `<prefix>:dead:<projection>:<version>`
/// (a hash from position to the dead letter as JSON), `<prefix>:retry:<projection>:<version>` (a hash
/// from position to when an operator asked for that letter's retry), `<prefix>:consumer:<name>` (a hash) and
/// `<prefix>:consumed:<name>` (a hash from stream id to the last version applied). The read
/// models' keys are the application's: a projection's `#[reset]` method deletes them.
///
/// **Blue/green rebuilds** ([`Locations`](crate::Locations)): a location is the same server under
/// a key namespace of its own, `<prefix>:bg:<location>` (the location named after the prefix, the
/// projection and the version), holding that version's Chronicle keys and its read model's keys
/// `<prefix>:bg:<location>:model:<name>`. Redis cannot tell which keys a handler writes, so a
/// projection run blue/green must name **every** key of its read model, in its handlers, its
/// `#[reset]` and its queries, through [`RedisWrites::key`] (`db.key("board")`); on a store that
/// is not a location `key` returns the name unchanged, so the same handlers run on a plain runner
/// with the keys they always had. A key named otherwise is shared by every version: each would
/// reset and rebuild the other's.
///
/// Handlers take `&mut chronicle::RedisWrites` and queue their commands; the transaction applies
/// them with the new checkpoint in one `MULTI`/`EXEC`, fenced by `WATCH` on the checkpoint key
/// (see [`RedisWrites`] for what that does and does not promise). Queries take
/// `&mut ReadOnly<'_, RedisWrites>`, whose only methods read.
///
/// **One active runner per projection**: a runner leads while it holds a lease key
/// (`SET NX PX`), renewed and given up by scripts that check the owner. When the runner dies
/// the lease expires and a standby runner takes over from the checkpoint; should two runners
/// overlap, the fenced checkpoint still lets only one of them commit a batch.
///
/// Durability is Redis's: with neither RDB nor AOF, a restarted server has forgotten the
/// checkpoints with the read models, and runners rebuild them from the start.
///
/// Cloning is cheap: clones share the client and the query connection.
#[derive(Clone)]
pub struct RedisReadStore {
    client: Client,
    prefix: Arc<str>,
    /// What the read model's key names go under (see [`RedisWrites::key`]): `None` unless this
    /// store is a blue/green location.
    models: Option<Arc<str>>,
    reader: Arc<tokio::sync::Mutex<Option<MultiplexedConnection>>>,
}

impl std::fmt::Debug for RedisReadStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReadStore")
            .field("prefix", &self.prefix)
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

/// `ReadStoreError::Corrupt` for a key of Chronicle's.
fn corrupt(key: &str, detail: impl std::fmt::Display) -> ReadStoreError {
    ReadStoreError::Corrupt {
        table: "redis key",
        detail: format!("`{key}`: {detail}"),
    }
}

/// The number in `field` of the hash `fields` read from `key`.
fn number<T: std::str::FromStr>(
    key: &str,
    fields: &HashMap<String, String>,
    field: &str,
) -> Result<T, ReadStoreError> {
    fields
        .get(field)
        .ok_or_else(|| corrupt(key, format!("no field `{field}`")))?
        .parse()
        .map_err(|_| corrupt(key, format!("field `{field}` is not a number")))
}

/// A checkpoint row from its hash (`None`: no key).
fn checkpoint_row(
    key: &str,
    fields: &HashMap<String, String>,
) -> Result<Option<CheckpointRow>, ReadStoreError> {
    if fields.is_empty() {
        return Ok(None);
    }
    Ok(Some(CheckpointRow {
        version: number(key, fields, "version")?,
        checkpoint: Checkpoint {
            transaction_id: number(key, fields, "transaction_id")?,
            position: number(key, fields, "position")?,
        },
    }))
}

/// A consumer row from its hash (`None`: no key).
fn consumer_row(key: &str, fields: &HashMap<String, String>) -> Result<Option<ConsumerRow>, ReadStoreError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let last_recorded_at = match fields.get("last_recorded_at").map(String::as_str) {
        None | Some("") => None,
        Some(micros) => {
            let micros: i64 = micros
                .parse()
                .map_err(|_| corrupt(key, "field `last_recorded_at` is not a number"))?;
            Some(
                DateTime::<Utc>::from_timestamp_micros(micros)
                    .ok_or_else(|| corrupt(key, "field `last_recorded_at` is out of range"))?,
            )
        }
    };
    Ok(Some(ConsumerRow {
        version: number(key, fields, "version")?,
        checkpoint: Checkpoint {
            transaction_id: number(key, fields, "transaction_id")?,
            position: number(key, fields, "position")?,
        },
        broker_sequence: number(key, fields, "broker_sequence")?,
        last_recorded_at,
    }))
}

/// A dead letter as the JSON stored in its hash field.
fn dead_letter_json(letter: &DeadLetter) -> String {
    serde_json::json!({
        "projection": letter.projection,
        "version": letter.version,
        "position": letter.position,
        "transaction_id": letter.transaction_id,
        "event_id": letter.event_id,
        "stream_id": letter.stream_id,
        "stream_version": letter.stream_version,
        "event_type": letter.event_type,
        "error": letter.error,
        "recorded_at": letter.recorded_at,
    })
    .to_string()
}

/// A dead letter read back from its JSON.
fn dead_letter_from_json(key: &str, json: &str) -> Result<DeadLetter, ReadStoreError> {
    #[derive(serde::Deserialize)]
    struct Stored {
        projection: String,
        version: u32,
        position: u64,
        transaction_id: u64,
        event_id: Option<Uuid>,
        stream_id: String,
        stream_version: u64,
        event_type: String,
        error: String,
        recorded_at: DateTime<Utc>,
    }
    let s: Stored = serde_json::from_str(json).map_err(|error| corrupt(key, error))?;
    Ok(DeadLetter {
        projection: s.projection,
        version: s.version,
        position: s.position,
        transaction_id: s.transaction_id,
        event_id: s.event_id,
        stream_id: s.stream_id,
        stream_version: s.stream_version,
        event_type: s.event_type,
        error: s.error,
        recorded_at: s.recorded_at,
        retry_requested_at: None,
    })
}

/// `text` with the glob characters of `SCAN MATCH` escaped.
pub(super) fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Every key that starts with `start` (matched with `SCAN`, a page at a time; a key may come
/// twice).
async fn scan(connection: &mut RedisWrites, start: &str) -> Result<Vec<String>, ReadStoreError> {
    let pattern = format!("{}*", glob_escape(start));
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = connection
            .raw(
                ::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500),
            )
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// A runner's session on a [`RedisReadStore`]: a connection of its own, where its transactions'
/// `WATCH` lives, and the store's read-model namespace, which its transactions'
/// [`RedisWrites::key`] names keys under.
pub struct RedisSession {
    connection: MultiplexedConnection,
    namespace: Option<Arc<str>>,
}

impl std::fmt::Debug for RedisSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSession")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The lease as whole milliseconds, at least one.
fn lease_millis(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisReadStore {
    /// A store on the Redis server at `url` (`redis://127.0.0.1:6379`, `redis://:password@host/2`),
    /// with the key prefix `chronicle`. Nothing is connected yet: a wrong address shows at the
    /// first use.
    pub fn open(url: &str) -> Result<Self, ReadStoreError> {
        let client = Client::open(url).map_err(read_store_error)?;
        Ok(Self {
            client,
            prefix: DEFAULT_PREFIX.into(),
            models: None,
            reader: Arc::default(),
        })
    }

    /// The same store with Chronicle's keys under `prefix` instead (several applications, or
    /// tests, sharing one server).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The prefix of Chronicle's keys.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of the read model called `name` in this store, as its handlers name it with
    /// [`RedisWrites::key`]: under the location's namespace on a blue/green location, `name`
    /// unchanged otherwise (for the application's own connections).
    pub fn model_key(&self, name: &str) -> String {
        model_key(self.models.as_deref(), name)
    }

    /// Whether this store is a blue/green location (whose read model's keys
    /// [`model_key`](Self::model_key) puts under a namespace of their own).
    pub fn is_location(&self) -> bool {
        self.models.is_some()
    }

    /// The redis client, for the application's own connections.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A store of Chronicle's keys under `prefix` and the read model's under `models`, on the
    /// same server and sharing the query connection (a location).
    pub(super) fn beside(&self, prefix: String, models: String) -> Self {
        Self {
            client: self.client.clone(),
            prefix: prefix.into(),
            models: Some(models.into()),
            reader: self.reader.clone(),
        }
    }

    /// A connection for one-off commands: the query connection.
    pub(super) async fn commands(&self) -> Result<MultiplexedConnection, ReadStoreError> {
        self.reader().await
    }

    pub(super) fn key(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.prefix)
    }

    fn dead_key(&self, projection: &str, version: u32) -> String {
        format!("{}:dead:{projection}:{version}", self.prefix)
    }

    /// The retries requested for the dead letters of `dead_key(projection, version)`: kept
    /// apart from the letters' JSON, which a script could not rewrite without losing the
    /// precision of large positions.
    fn retry_key(&self, projection: &str, version: u32) -> String {
        format!("{}:retry:{projection}:{version}", self.prefix)
    }

    /// Records the key layout (`<prefix>:layout`), refusing a layout this version does not know.
    /// Writes nothing else: Redis needs no tables. Safe to run at every start.
    pub async fn migrate(&self) -> Result<(), ReadStoreError> {
        let key = format!("{}:layout", self.prefix);
        let mut connection = self.open_connection().await?;
        let _: Option<String> = ::redis::cmd("SET")
            .arg(&key)
            .arg(LAYOUT)
            .arg("NX")
            .query_async(&mut connection)
            .await
            .map_err(read_store_error)?;
        let layout: Option<String> = ::redis::cmd("GET")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .map_err(read_store_error)?;
        match layout.as_deref() {
            Some(LAYOUT) | None => Ok(()),
            Some(other) => Err(corrupt(&key, format!("unknown layout `{other}`"))),
        }
    }

    async fn open_connection(&self) -> Result<MultiplexedConnection, ReadStoreError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(read_store_error)
    }

    /// The connection queries and waits read on: the shared one while it answers, else a new one.
    async fn reader(&self) -> Result<MultiplexedConnection, ReadStoreError> {
        let mut reader = self.reader.lock().await;
        if let Some(connection) = reader.as_mut() {
            let alive: Result<String, _> = ::redis::cmd("PING").query_async(connection).await;
            if alive.is_ok() {
                return Ok(connection.clone());
            }
        }
        let connection = self.open_connection().await?;
        *reader = Some(connection.clone());
        Ok(connection)
    }

    async fn query<T: ::redis::FromRedisValue + Send>(
        connection: &mut MultiplexedConnection,
        command: &Cmd,
    ) -> Result<T, ReadStoreError> {
        command.query_async(connection).await.map_err(read_store_error)
    }

    async fn lease_script(
        &self,
        session: &mut RedisSession,
        script: &str,
        projection: &str,
        owner: Uuid,
        lease: Option<Duration>,
    ) -> Result<bool, ReadStoreError> {
        let script = Script::new(script);
        let mut invocation = script.key(self.key("lease", projection));
        invocation.arg(owner.to_string());
        if let Some(lease) = lease {
            invocation.arg(lease_millis(lease));
        }
        let done: i64 = invocation
            .invoke_async(&mut session.connection)
            .await
            .map_err(read_store_error)?;
        Ok(done == 1)
    }

    /// Every dead-letter key of `projection`, with its version.
    async fn dead_keys(
        &self,
        connection: &mut RedisWrites,
        projection: &str,
    ) -> Result<Vec<(String, u32)>, ReadStoreError> {
        let start = format!("{}:dead:{projection}:", self.prefix);
        let keys = scan(connection, &start).await?;
        // `a:*` also matches the keys of a projection named `a:b`: only a number follows.
        Ok(keys
            .into_iter()
            .filter_map(|key| {
                let version = key.strip_prefix(&start)?.parse().ok()?;
                Some((key, version))
            })
            .collect())
    }

    /// Watches `key` (until the commit or the rollback), then reads the hash it holds now: what
    /// a fenced save compares with the previous row it was given.
    async fn fence(
        connection: &mut RedisWrites,
        key: &str,
    ) -> Result<HashMap<String, String>, ReadStoreError> {
        connection.watch(key).await?;
        connection.raw(::redis::cmd("HGETALL").arg(key)).await
    }
}

impl ReadStore for RedisReadStore {
    type Connection = RedisWrites;
    type Session = RedisSession;
    type Transaction<'s> = RedisTransaction;
    type ReadOnly = RedisTransaction;

    async fn migrate(&self) -> Result<(), ReadStoreError> {
        RedisReadStore::migrate(self).await
    }

    async fn connect(&self) -> Result<RedisSession, ReadStoreError> {
        Ok(RedisSession {
            connection: self.open_connection().await?,
            namespace: self.models.clone(),
        })
    }

    async fn close(session: RedisSession) {
        drop(session);
    }

    async fn begin(session: &mut RedisSession) -> Result<RedisTransaction, ReadStoreError> {
        // A clone shares the session's one server connection, where `WATCH` lives; the session is
        // borrowed for as long as the transaction, so nothing else uses it meanwhile.
        Ok(RedisTransaction::new(RedisWrites::new(
            session.connection.clone(),
            false,
            session.namespace.clone(),
        )))
    }

    async fn begin_read_only(&self) -> Result<RedisTransaction, ReadStoreError> {
        Ok(RedisTransaction::new(RedisWrites::new(
            self.reader().await?,
            true,
            self.models.clone(),
        )))
    }

    async fn try_lead<'a>(
        &'a self,
        session: &'a mut RedisSession,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> Result<bool, ReadStoreError> {
        self.lease_script(session, TRY_LEAD, projection, owner, Some(lease))
            .await
    }

    async fn keep_lead<'a>(
        &'a self,
        session: &'a mut RedisSession,
        projection: &'a str,
        owner: Uuid,
        lease: Duration,
    ) -> Result<bool, ReadStoreError> {
        self.lease_script(session, KEEP_LEAD, projection, owner, Some(lease))
            .await
    }

    async fn release_lead<'a>(
        &'a self,
        session: &'a mut RedisSession,
        projection: &'a str,
        owner: Uuid,
    ) -> Result<(), ReadStoreError> {
        self.lease_script(session, RELEASE_LEAD, projection, owner, None)
            .await
            .map(drop)
    }

    async fn holder<'a>(&'a self, projection: &'a str) -> Result<Option<String>, ReadStoreError> {
        let mut connection = self.reader().await?;
        Self::query(
            &mut connection,
            ::redis::cmd("GET").arg(self.key("lease", projection)),
        )
        .await
    }

    async fn load_checkpoint<'a>(
        &'a self,
        session: &'a mut RedisSession,
        projection: &'a str,
    ) -> Result<Option<CheckpointRow>, ReadStoreError> {
        let key = self.key("checkpoint", projection);
        let fields = Self::query(&mut session.connection, ::redis::cmd("HGETALL").arg(&key)).await?;
        checkpoint_row(&key, &fields)
    }

    async fn checkpoints(&self) -> Result<Vec<(String, CheckpointRow)>, ReadStoreError> {
        let start = self.key("checkpoint", "");
        let mut reader = RedisWrites::new(self.reader().await?, true, None);
        let mut names: Vec<String> = scan(&mut reader, &start)
            .await?
            .iter()
            .filter_map(|key| key.strip_prefix(&start))
            .map(str::to_owned)
            .collect();
        // SCAN may return a key twice; the list is by name, each once.
        names.sort_unstable();
        names.dedup();
        let mut rows = Vec::with_capacity(names.len());
        for name in names {
            let key = self.key("checkpoint", &name);
            let fields = reader.raw(::redis::cmd("HGETALL").arg(&key)).await?;
            // A checkpoint deleted since the scan is not listed.
            if let Some(row) = checkpoint_row(&key, &fields)? {
                rows.push((name, row));
            }
        }
        Ok(rows)
    }

    async fn read_checkpoint<'a>(
        &'a self,
        projection: &'a str,
    ) -> Result<Option<CheckpointRow>, ReadStoreError> {
        let key = self.key("checkpoint", projection);
        let mut reader = self.reader().await?;
        let fields = Self::query(&mut reader, ::redis::cmd("HGETALL").arg(&key)).await?;
        checkpoint_row(&key, &fields)
    }

    async fn save_checkpoint<'a>(
        &'a self,
        connection: &'a mut RedisWrites,
        projection: &'a str,
        previous: Option<CheckpointRow>,
        next: CheckpointRow,
    ) -> Result<bool, ReadStoreError> {
        let key = self.key("checkpoint", projection);
        let fields = Self::fence(connection, &key).await?;
        if checkpoint_row(&key, &fields)? != previous {
            return Ok(false);
        }
        let mut command = ::redis::cmd("HSET");
        command
            .arg(&key)
            .arg("version")
            .arg(next.version)
            .arg("transaction_id")
            .arg(next.checkpoint.transaction_id)
            .arg("position")
            .arg(next.checkpoint.position);
        connection.queue_own(command)?;
        Ok(true)
    }

    async fn record_dead_letter<'a>(
        &'a self,
        connection: &'a mut RedisWrites,
        letter: &'a DeadLetter,
    ) -> Result<(), ReadStoreError> {
        let mut command = ::redis::cmd("HSET");
        command
            .arg(self.dead_key(&letter.projection, letter.version))
            .arg(letter.position)
            .arg(dead_letter_json(letter));
        connection.queue_own(command)?;
        // Recorded again (a retry that failed): no retry is pending any more.
        let mut answered = ::redis::cmd("HDEL");
        answered
            .arg(self.retry_key(&letter.projection, letter.version))
            .arg(letter.position);
        connection.queue_own(answered)
    }

    async fn delete_dead_letters<'a>(
        &'a self,
        connection: &'a mut RedisWrites,
        projection: &'a str,
        which: DeadLetters<'a>,
    ) -> Result<(), ReadStoreError> {
        for (key, version) in self.dead_keys(connection, projection).await? {
            let retries = self.retry_key(projection, version);
            match which {
                DeadLetters::NotOfVersion(kept) if version != kept => {
                    connection.queue_own(::redis::cmd("DEL").arg(&key).arg(&retries).clone())?;
                }
                DeadLetters::AtPositions(positions) if !positions.is_empty() => {
                    connection.queue_own(::redis::cmd("HDEL").arg(&key).arg(positions).clone())?;
                    connection.queue_own(::redis::cmd("HDEL").arg(&retries).arg(positions).clone())?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn request_retry<'a>(
        &'a self,
        projection: &'a str,
        version: u32,
        position: u64,
    ) -> Result<bool, ReadStoreError> {
        let mut reader = self.reader().await?;
        let done: i64 = Script::new(REQUEST_RETRY)
            .key(self.dead_key(projection, version))
            .key(self.retry_key(projection, version))
            .arg(position)
            .arg(Utc::now().to_rfc3339())
            .invoke_async(&mut reader)
            .await
            .map_err(read_store_error)?;
        Ok(done == 1)
    }

    async fn dead_letters<'a>(
        &'a self,
        projection: &'a str,
        version: u32,
    ) -> Result<Vec<DeadLetter>, ReadStoreError> {
        let key = self.dead_key(projection, version);
        let retry_key = self.retry_key(projection, version);
        let mut reader = self.reader().await?;
        let fields: HashMap<String, String> =
            Self::query(&mut reader, ::redis::cmd("HGETALL").arg(&key)).await?;
        let retries: HashMap<String, String> =
            Self::query(&mut reader, ::redis::cmd("HGETALL").arg(&retry_key)).await?;
        let mut letters = fields
            .iter()
            .map(|(position, json)| {
                let mut letter = dead_letter_from_json(&key, json)?;
                letter.retry_requested_at = match retries.get(position) {
                    Some(at) => Some(
                        DateTime::parse_from_rfc3339(at)
                            .map_err(|error| corrupt(&retry_key, error))?
                            .with_timezone(&Utc),
                    ),
                    None => None,
                };
                Ok(letter)
            })
            .collect::<Result<Vec<_>, ReadStoreError>>()?;
        letters.sort_by_key(|letter| (letter.transaction_id, letter.position));
        Ok(letters)
    }

    async fn load_consumer<'a>(
        &'a self,
        session: &'a mut RedisSession,
        consumer: &'a str,
    ) -> Result<Option<ConsumerRow>, ReadStoreError> {
        let key = self.key("consumer", consumer);
        let fields = Self::query(&mut session.connection, ::redis::cmd("HGETALL").arg(&key)).await?;
        consumer_row(&key, &fields)
    }

    async fn read_consumer<'a>(&'a self, consumer: &'a str) -> Result<Option<ConsumerRow>, ReadStoreError> {
        let key = self.key("consumer", consumer);
        let mut reader = self.reader().await?;
        let fields = Self::query(&mut reader, ::redis::cmd("HGETALL").arg(&key)).await?;
        consumer_row(&key, &fields)
    }

    async fn save_consumer<'a>(
        &'a self,
        connection: &'a mut RedisWrites,
        consumer: &'a str,
        previous: Option<ConsumerRow>,
        next: ConsumerRow,
    ) -> Result<bool, ReadStoreError> {
        let key = self.key("consumer", consumer);
        let fields = Self::fence(connection, &key).await?;
        if consumer_row(&key, &fields)? != previous {
            return Ok(false);
        }
        let at = next
            .last_recorded_at
            .map_or_else(String::new, |at| at.timestamp_micros().to_string());
        let mut command = ::redis::cmd("HSET");
        command
            .arg(&key)
            .arg("version")
            .arg(next.version)
            .arg("transaction_id")
            .arg(next.checkpoint.transaction_id)
            .arg("position")
            .arg(next.checkpoint.position)
            .arg("broker_sequence")
            .arg(next.broker_sequence)
            .arg("last_recorded_at")
            .arg(at);
        connection.queue_own(command)?;
        Ok(true)
    }

    async fn consumed_version<'a>(
        &'a self,
        connection: &'a mut RedisWrites,
        consumer: &'a str,
        stream_id: &'a str,
    ) -> Result<Option<u64>, ReadStoreError> {
        // What this transaction recorded first: its writes are only queued.
        if let Some(pending) = connection.pending_consumed(consumer, stream_id) {
            return Ok(pending);
        }
        connection
            .raw(
                ::redis::cmd("HGET")
                    .arg(self.key("consumed", consumer))
                    .arg(stream_id),
            )
            .await
    }

    async fn read_consumed_version<'a>(
        &'a self,
        consumer: &'a str,
        stream_id: &'a str,
    ) -> Result<Option<u64>, ReadStoreError> {
        let mut reader = self.reader().await?;
        Self::query(
            &mut reader,
            ::redis::cmd("HGET")
                .arg(self.key("consumed", consumer))
                .arg(stream_id),
        )
        .await
    }

    async fn save_consumed_version<'a>(
        &'a self,
        connection: &'a mut RedisWrites,
        consumer: &'a str,
        stream_id: &'a str,
        version: u64,
    ) -> Result<(), ReadStoreError> {
        let mut command = ::redis::cmd("HSET");
        command
            .arg(self.key("consumed", consumer))
            .arg(stream_id)
            .arg(version);
        connection.queue_own(command)?;
        connection.record_consumed(consumer, stream_id, version);
        Ok(())
    }

    async fn forget_consumed<'a>(
        &'a self,
        connection: &'a mut RedisWrites,
        consumer: &'a str,
    ) -> Result<(), ReadStoreError> {
        connection.queue_own(::redis::cmd("DEL").arg(self.key("consumed", consumer)).clone())?;
        connection.forget_consumed(consumer);
        Ok(())
    }

    fn is_transient(error: &HandlerError) -> bool {
        handler_error_is_transient(error)
    }
}

impl ReadConnection for RedisWrites {
    type Store = RedisReadStore;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_round_trip_through_json() {
        let letter = DeadLetter {
            projection: "p".into(),
            version: 2,
            position: 7,
            transaction_id: 3,
            event_id: Some(Uuid::nil()),
            stream_id: "account-1".into(),
            stream_version: 4,
            event_type: "Deposited".into(),
            error: "cursed".into(),
            recorded_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            retry_requested_at: None,
        };
        assert_eq!(
            dead_letter_from_json("k", &dead_letter_json(&letter)).unwrap(),
            letter
        );
        assert!(dead_letter_from_json("k", "{").is_err());
    }

    #[test]
    fn rows_from_hashes() {
        let fields: HashMap<String, String> = [("version", "1"), ("transaction_id", "0"), ("position", "9")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let row = checkpoint_row("k", &fields).unwrap().unwrap();
        assert_eq!(row.checkpoint.position, 9);
        assert!(checkpoint_row("k", &HashMap::new()).unwrap().is_none());
        let mut bad = fields.clone();
        bad.insert("position".into(), "x".into());
        assert!(matches!(
            checkpoint_row("k", &bad),
            Err(ReadStoreError::Corrupt { .. })
        ));
        assert_eq!(glob_escape("a*b[c]"), "a\\*b\\[c\\]");
        assert_eq!(lease_millis(Duration::ZERO), 1);
    }
}
