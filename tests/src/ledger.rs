//! A view that records every application of every event (on Postgres), for the tests of
//! consumers: each event must be applied exactly once, and the view must equal a replay of the
//! log.

use std::collections::BTreeMap;

use chronicle::prelude::*;
use chronicle::sqlx::{self, PgConnection, Row as _};
use uuid::Uuid;

/// `ledger(event_id, stream_id, stream_version, amount, applications)`: one row per event
/// applied, `applications` counting how often it was.
#[derive(Default)]
pub struct Ledger {
    /// A stream whose deposits the handler refuses (for poison tests), if any.
    pub refuse_stream: Option<String>,
}

#[projection(name = "test.ledger", version = 1)]
impl Ledger {
    #[reset]
    async fn reset(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS ledger (event_id uuid PRIMARY KEY, stream_id text NOT NULL, \
             stream_version bigint NOT NULL, amount bigint NOT NULL, applications int NOT NULL)",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM ledger").execute(&mut *db).await?;
        Ok(())
    }

    #[on]
    async fn opened(
        &self,
        _event: &bank::AccountOpened,
        meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        record(db, meta, 0).await
    }

    #[on]
    async fn deposited(
        &self,
        event: &bank::MoneyDeposited,
        meta: &RecordedEvent,
        db: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        if self.refuse_stream.as_deref() == Some(meta.stream_id.as_str()) {
            // A real database error, as a handler meets one: the cast fails, naming the text.
            sqlx::query("SELECT CAST($1 AS integer)")
                .bind(format!("refusing deposits to {}", meta.stream_id))
                .execute(&mut *db)
                .await?;
        }
        record(db, meta, event.amount).await
    }
}

async fn record(db: &mut PgConnection, meta: &RecordedEvent, amount: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ledger (event_id, stream_id, stream_version, amount, applications) \
         VALUES ($1, $2, $3, $4, 1) \
         ON CONFLICT (event_id) DO UPDATE SET applications = ledger.applications + 1",
    )
    .bind(meta.event_id)
    .bind(&meta.stream_id)
    .bind(i64::try_from(meta.stream_version).unwrap_or(i64::MAX))
    .bind(amount)
    .execute(&mut *db)
    .await
    .map(drop)
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// The stream.
    pub stream_id: String,
    /// The event's version in it.
    pub stream_version: i64,
    /// The deposit's amount (0 for an opening).
    pub amount: i64,
}

/// The ledger's rows by event id, with how often each was applied.
pub async fn ledger(read: &PostgresReadStore) -> BTreeMap<Uuid, (Entry, i32)> {
    let rows = sqlx::query(&format!(
        "SELECT event_id, stream_id, stream_version, amount, applications FROM \"{}\".ledger",
        read.schema()
    ))
    .fetch_all(read.pool())
    .await
    .expect("read the ledger");
    rows.iter()
        .map(|row| {
            let entry = Entry {
                stream_id: row.get("stream_id"),
                stream_version: row.get("stream_version"),
                amount: row.get("amount"),
            };
            (row.get("event_id"), (entry, row.get("applications")))
        })
        .collect()
}

/// What a replay of `log` gives the ledger: one row per opening and deposit.
pub fn replayed(log: &[RecordedEvent]) -> BTreeMap<Uuid, Entry> {
    log.iter()
        .filter_map(|event| {
            let amount = match event.event_type.as_str() {
                t if t == <bank::AccountOpened as chronicle::Event>::NAME => 0,
                t if t == <bank::MoneyDeposited as chronicle::Event>::NAME => {
                    serde_json::from_str::<bank::MoneyDeposited>(event.payload.get())
                        .expect("a deposit")
                        .amount
                }
                _ => return None,
            };
            let entry = Entry {
                stream_id: event.stream_id.clone(),
                stream_version: i64::try_from(event.stream_version).expect("small"),
                amount,
            };
            Some((event.event_id, entry))
        })
        .collect()
}

/// Asserts that the ledger in `read` is what a replay of `log` gives, each event applied once.
pub async fn assert_ledger_is_replay(read: &PostgresReadStore, log: &[RecordedEvent]) {
    let view = ledger(read).await;
    let twice: Vec<_> = view.iter().filter(|(_, (_, n))| *n != 1).collect();
    assert!(twice.is_empty(), "events applied more than once: {twice:?}");
    let view: BTreeMap<Uuid, Entry> = view.into_iter().map(|(id, (entry, _))| (id, entry)).collect();
    let expected = replayed(log);
    let missing: Vec<_> = expected.keys().filter(|id| !view.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} events never applied: {missing:?}",
        missing.len()
    );
    assert_eq!(view, expected, "the view differs from a replay");
}
