//! Database plumbing: the benchmark database, fresh schemas (dropped at the end), bank event rows
//! written straight into an events table, and what the harness says about the machine.

use std::sync::Mutex;

use chronicle::sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use chronicle::sqlx::{self, Connection as _};
use chronicle::{Event, Metadata, PostgresStore};
use uuid::Uuid;

use crate::report::Machine;
use crate::Result;

/// The benchmark database and the schemas the harness created in it.
pub(crate) struct Db {
    url: String,
    /// For statements of the harness itself (DDL, CHECKPOINT, checks).
    pub(crate) admin: PgPool,
    schemas: Mutex<Vec<String>>,
}

impl Db {
    /// Connects to the database at `url`, creating it if missing.
    pub(crate) async fn open(url: &str) -> Result<Self> {
        ensure_database(url).await?;
        let admin = PgPoolOptions::new().max_connections(2).connect(url).await?;
        Ok(Self {
            url: url.to_owned(),
            admin,
            schemas: Mutex::default(),
        })
    }

    /// A pool of up to `size` connections, all opened now so that no timed phase pays for it.
    pub(crate) async fn pool(&self, size: u32) -> Result<PgPool> {
        let pool = PgPoolOptions::new()
            .max_connections(size)
            .min_connections(0)
            .connect(&self.url)
            .await?;
        let mut held = Vec::new();
        for _ in 0..size {
            held.push(pool.acquire().await?);
        }
        drop(held);
        Ok(pool)
    }

    /// A fresh schema name, remembered so that it is dropped at the end whatever happens.
    pub(crate) fn schema(&self, tag: &str) -> String {
        let name = format!("chb_{tag}_{}", &Uuid::new_v4().simple().to_string()[..10]);
        self.schemas.lock().unwrap().push(name.clone());
        name
    }

    /// A migrated event store in a fresh schema, on a pool of `pool_size` connections.
    pub(crate) async fn event_store(&self, tag: &str, pool_size: u32) -> Result<PostgresStore> {
        let schema = self.schema(tag);
        let store = PostgresStore::from_pool(self.pool(pool_size).await?).with_schema(&schema)?;
        store.migrate().await?;
        Ok(store)
    }

    /// Drops a schema created by [`schema`](Self::schema) and everything in it.
    pub(crate) async fn drop_schema(&self, schema: &str) -> Result<()> {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&self.admin)
            .await?;
        self.schemas.lock().unwrap().retain(|s| s != schema);
        Ok(())
    }

    /// Closes a store's pool and drops its schema.
    pub(crate) async fn drop_store(&self, store: PostgresStore) -> Result<()> {
        store.pool().close().await;
        self.drop_schema(store.schema()).await
    }

    /// Drops every schema still remembered.
    pub(crate) async fn drop_all(&self) -> Result<()> {
        let schemas: Vec<String> = self.schemas.lock().unwrap().clone();
        for schema in schemas {
            self.drop_schema(&schema).await?;
        }
        Ok(())
    }

    /// Flushes dirty buffers, so that a checkpoint of earlier work does not land in a timed phase.
    pub(crate) async fn checkpoint(&self) -> Result<()> {
        sqlx::query("CHECKPOINT").execute(&self.admin).await?;
        Ok(())
    }

    /// `VACUUM (ANALYZE)` of a table: sets hint bits and the visibility map, as on an old table.
    pub(crate) async fn vacuum(&self, table: &str) -> Result<()> {
        sqlx::query(&format!("VACUUM (ANALYZE) {table}"))
            .execute(&self.admin)
            .await?;
        Ok(())
    }

    /// The machine and the server's settings.
    pub(crate) async fn machine(&self) -> Result<Machine> {
        let show = |setting: &'static str| async move {
            sqlx::query_scalar::<_, String>(&format!("SHOW {setting}"))
                .fetch_one(&self.admin)
                .await
        };
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        Ok(Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: mem_kib / (1024.0 * 1024.0),
            load_average: loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            postgres: sqlx::query_scalar("SELECT version()")
                .fetch_one(&self.admin)
                .await?,
            synchronous_commit: show("synchronous_commit").await?,
            fsync: show("fsync").await?,
            shared_buffers: show("shared_buffers").await?,
            database: sqlx::query_scalar("SELECT current_database()")
                .fetch_one(&self.admin)
                .await?,
        })
    }
}

/// Creates the database named at the end of `url` unless it exists.
async fn ensure_database(url: &str) -> Result<()> {
    let (server, rest) = url
        .rsplit_once('/')
        .ok_or("the database URL must end in /<database>")?;
    let name = rest.split('?').next().unwrap_or(rest);
    if PgConnection::connect(url).await.is_ok() {
        return Ok(());
    }
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .map_err(|e| format!("cannot reach Postgres at {server}: {e}"))?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        if let Err(error) = sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
        {
            // Another process may have created it meanwhile.
            let raced = error
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "42P04" || code == "23505");
            if !raced {
                return Err(error.into());
            }
        }
    }
    Ok(())
}

/// A small deterministic PRNG (wyrand), so that every run draws the same workload.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) ^ t) as u64
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The id of bank account number `n`.
pub(crate) fn account_id(n: usize) -> String {
    format!("acc-{n:06}")
}

/// The stream of a bank account, as Chronicle names it.
pub(crate) fn account_stream(id: &str) -> String {
    chronicle::stream_id::<bank::Account>(id)
}

/// Rows of `chronicle_events` built by hand, exactly as Chronicle would write the bank's events
/// (same payload and metadata JSON), for `INSERT ... SELECT FROM UNNEST` in one statement.
#[derive(Default)]
pub(crate) struct EventRows {
    stream_ids: Vec<String>,
    versions: Vec<i64>,
    event_ids: Vec<Uuid>,
    types: Vec<&'static str>,
    event_versions: Vec<i32>,
    payloads: Vec<String>,
    metadata: Vec<String>,
    command_ids: Vec<Uuid>,
}

/// The columns [`EventRows`] fills.
const COLUMNS: &str =
    "stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id";

impl EventRows {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            stream_ids: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
            event_ids: Vec::with_capacity(n),
            types: Vec::with_capacity(n),
            event_versions: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            command_ids: Vec::with_capacity(n),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.stream_ids.len()
    }

    fn push<E: Event>(&mut self, account: &str, version: i64, event: &E) -> Result<()> {
        let command_id = Uuid::new_v4();
        let metadata = Metadata {
            command_id,
            correlation_id: command_id,
            causation_id: command_id,
            actor: None,
            extra: serde_json::Map::new(),
        };
        self.stream_ids.push(account_stream(account));
        self.versions.push(version);
        self.event_ids
            .push(Uuid::new_v5(&command_id, &0u64.to_be_bytes()));
        self.types.push(E::NAME);
        self.event_versions.push(i32::try_from(E::VERSION)?);
        self.payloads.push(serde_json::to_string(event)?);
        self.metadata.push(serde_json::to_string(&metadata)?);
        self.command_ids.push(command_id);
        Ok(())
    }

    /// An `AccountOpened` event, version 1 of the account's stream.
    pub(crate) fn open(&mut self, account: &str) -> Result<()> {
        let event = bank::AccountOpened {
            account_id: account.to_owned(),
            owner: format!("owner of {account}"),
            overdraft_limit: 100,
        };
        self.push(account, 1, &event)
    }

    /// A `MoneyDeposited` event at `version` of the account's stream.
    pub(crate) fn deposit(&mut self, account: &str, version: i64, amount: i64) -> Result<()> {
        let event = bank::MoneyDeposited {
            account_id: account.to_owned(),
            amount,
        };
        self.push(account, version, &event)
    }

    /// The single-row insert of the raw baseline (`$1..$8`, one event).
    pub(crate) fn insert_one_sql(table: &str) -> String {
        format!(
            "INSERT INTO {table} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8) RETURNING position"
        )
    }

    /// Inserts row `i` alone with [`insert_one_sql`](Self::insert_one_sql) (autocommit).
    pub(crate) async fn insert_one(&self, sql: &str, i: usize, conn: &mut PgConnection) -> Result<i64> {
        let position = sqlx::query_scalar(sql)
            .bind(&self.stream_ids[i])
            .bind(self.versions[i])
            .bind(self.event_ids[i])
            .bind(self.types[i])
            .bind(self.event_versions[i])
            .bind(&self.payloads[i])
            .bind(&self.metadata[i])
            .bind(self.command_ids[i])
            .fetch_one(&mut *conn)
            .await?;
        Ok(position)
    }

    /// Inserts every row in one statement (one transaction); returns how many.
    pub(crate) async fn insert_all(&self, table: &str, conn: &mut PgConnection) -> Result<u64> {
        let sql = format!(
            "INSERT INTO {table} ({COLUMNS}) \
             SELECT s, v, e, t, ev, p::jsonb, m::jsonb, c \
             FROM UNNEST($1::text[], $2::int8[], $3::uuid[], $4::text[], $5::int4[], $6::text[], $7::text[], $8::uuid[]) \
                 AS u(s, v, e, t, ev, p, m, c)"
        );
        let done = sqlx::query(&sql)
            .bind(&self.stream_ids)
            .bind(&self.versions)
            .bind(&self.event_ids)
            .bind(&self.types)
            .bind(&self.event_versions)
            .bind(&self.payloads)
            .bind(&self.metadata)
            .bind(&self.command_ids)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    }
}

/// A field of `/proc/self/status` in kB (`VmRSS`, `VmHWM`).
pub(crate) fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Resets the peak RSS (`VmHWM`) to the current RSS; `false` where the kernel does not allow it.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Hands freed heap memory back to the kernel (glibc's `malloc_trim`), so that the RSS measured
/// next counts memory in use rather than what earlier phases freed.
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: `malloc_trim` takes no pointers and only releases free memory.
        unsafe {
            malloc_trim(0);
        }
    }
}
