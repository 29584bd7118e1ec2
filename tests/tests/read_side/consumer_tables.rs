//! The consumer tables of the read stores, through the `ReadStore` API (Postgres, SQLite and
//! MariaDB, and Redis's consumer keys for all but the corrupt rows, which are raw SQL):
//! a consumer's row saved fenced on the previous one, read back alike on a session and on the
//! pool; the stream versions a consumer applied, per consumer, upserted and forgotten; migrating
//! twice; and rows Chronicle could not have written, refused as corrupt.

use chronicle::prelude::*;
use chronicle::sqlx;
use chronicle::{Checkpoint, ConsumerRow, ReadStoreError, ReadTransaction};
use chronicle_tests::support::{self, TempFile};
use chrono::{DateTime, TimeZone, Utc};

/// A read store of one engine, fresh for one test, with raw SQL on its tables.
pub(crate) trait Fixture: ReadStore {
    /// Chronicle's table `name`, as raw SQL names it.
    fn table(&self, name: &str) -> String;

    /// Runs `sql` outside Chronicle (to write what Chronicle could not have written).
    async fn raw(&self, sql: &str);

    /// Removes what the test left behind (when it passes).
    async fn clean_up(self);
}

impl Fixture for PostgresReadStore {
    fn table(&self, name: &str) -> String {
        format!("\"{}\".{name}", self.schema())
    }

    async fn raw(&self, sql: &str) {
        sqlx::raw_sql(sql).execute(self.pool()).await.expect(sql);
    }

    async fn clean_up(self) {
        support::drop_schema(self.pool(), self.schema()).await;
    }
}

impl Fixture for SqliteReadStore {
    fn table(&self, name: &str) -> String {
        name.to_owned()
    }

    async fn raw(&self, sql: &str) {
        sqlx::raw_sql(sql).execute(self.pool()).await.expect(sql);
    }

    async fn clean_up(self) {
        self.pool().close().await;
    }
}

impl Fixture for MySqlReadStore {
    fn table(&self, name: &str) -> String {
        name.to_owned()
    }

    async fn raw(&self, sql: &str) {
        sqlx::raw_sql(sql).execute(self.pool()).await.expect(sql);
    }

    async fn clean_up(self) {
        support::drop_mysql_database(&self).await;
    }
}

impl Fixture for RedisReadStore {
    fn table(&self, name: &str) -> String {
        format!("{}:{name}", self.key_prefix())
    }

    async fn raw(&self, sql: &str) {
        panic!("no SQL on Redis: {sql}");
    }

    async fn clean_up(self) {
        support::delete_redis_keys(&self).await;
    }
}

async fn postgres() -> PostgresReadStore {
    support::postgres_read_store_elsewhere().await
}

async fn sqlite(file: &TempFile) -> SqliteReadStore {
    let read = SqliteReadStore::open(file.path())
        .await
        .expect("open a temporary SQLite file");
    read.migrate().await.expect("migrate the read store");
    read
}

/// A time every engine keeps exactly (whole microseconds).
fn at(seconds: u32, micros: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, seconds).unwrap() + chrono::Duration::microseconds(micros.into())
}

fn row(version: u32, transaction_id: u64, position: u64, broker_sequence: u64) -> ConsumerRow {
    ConsumerRow {
        version,
        checkpoint: Checkpoint {
            transaction_id,
            position,
        },
        broker_sequence,
        last_recorded_at: None,
    }
}

/// Saves `next` over `previous` in a transaction of its own, committed.
async fn save<S: ReadStore>(
    store: &S,
    session: &mut S::Session,
    consumer: &str,
    previous: Option<ConsumerRow>,
    next: ConsumerRow,
) -> bool {
    let mut tx = S::begin(session).await.expect("begin");
    let saved = store
        .save_consumer(tx.connection(), consumer, previous, next)
        .await
        .expect("save the consumer");
    tx.commit().await.expect("commit");
    saved
}

/// The row as the pool reads it, which the session reads too.
async fn read<S: ReadStore>(store: &S, session: &mut S::Session, consumer: &str) -> Option<ConsumerRow> {
    let on_pool = store.read_consumer(consumer).await.expect("read the consumer");
    let on_session = store
        .load_consumer(session, consumer)
        .await
        .expect("load the consumer");
    assert_eq!(
        on_pool, on_session,
        "the pool and the session read `{consumer}` alike"
    );
    on_pool
}

/// Insert, then fenced updates: a stale `previous` (in any of the fenced columns) changes
/// nothing, and neither does a second insert or a rolled-back save.
async fn fenced_save<S: Fixture>(store: S) {
    let mut session = store.connect().await.expect("connect");
    assert_eq!(read(&store, &mut session, "orders").await, None);

    let first = row(1, 0, 0, 0);
    assert!(save(&store, &mut session, "orders", None, first).await);
    assert_eq!(read(&store, &mut session, "orders").await, Some(first));

    let again = row(1, 9, 9, 9);
    assert!(
        !save(&store, &mut session, "orders", None, again).await,
        "a second insert finds the row there"
    );
    assert_eq!(read(&store, &mut session, "orders").await, Some(first));

    let second = ConsumerRow {
        last_recorded_at: Some(at(9, 123_456)),
        ..row(1, 40, 12, 3)
    };
    assert!(save(&store, &mut session, "orders", Some(first), second).await);
    assert_eq!(read(&store, &mut session, "orders").await, Some(second));

    let third = ConsumerRow {
        last_recorded_at: Some(at(10, 0)),
        ..row(2, 41, 13, 4)
    };
    let stale = [
        first,
        ConsumerRow { version: 2, ..second },
        ConsumerRow {
            checkpoint: Checkpoint {
                transaction_id: 39,
                ..second.checkpoint
            },
            ..second
        },
        ConsumerRow {
            checkpoint: Checkpoint {
                position: 11,
                ..second.checkpoint
            },
            ..second
        },
        ConsumerRow {
            broker_sequence: 2,
            ..second
        },
    ];
    for previous in stale {
        assert!(
            !save(&store, &mut session, "orders", Some(previous), third).await,
            "stale {previous:?}"
        );
        assert_eq!(
            read(&store, &mut session, "orders").await,
            Some(second),
            "after stale {previous:?}"
        );
    }

    let mut tx = S::begin(&mut session).await.expect("begin");
    assert!(store
        .save_consumer(tx.connection(), "orders", Some(second), third)
        .await
        .expect("save"));
    tx.rollback().await.expect("roll back");
    assert_eq!(read(&store, &mut session, "orders").await, Some(second));

    // Back to no time: `None` is written as such.
    let cleared = ConsumerRow {
        last_recorded_at: None,
        ..third
    };
    assert!(save(&store, &mut session, "orders", Some(second), cleared).await);
    assert_eq!(read(&store, &mut session, "orders").await, Some(cleared));
    assert_eq!(
        read(&store, &mut session, "other").await,
        None,
        "another consumer has no row"
    );

    S::close(session).await;
    store.clean_up().await;
}

/// Stream versions: none, then upserted and read back in the transaction and on the pool, per
/// consumer; forgetting clears one consumer's only (and not its row of `chronicle_consumers`).
async fn consumed_versions<S: Fixture>(store: S) {
    let mut session = store.connect().await.expect("connect");
    assert!(save(&store, &mut session, "a", None, row(1, 5, 5, 5)).await);

    let mut tx = S::begin(&mut session).await.expect("begin");
    let c = tx.connection();
    assert_eq!(
        store.consumed_version(c, "a", "bank.Account-1").await.unwrap(),
        None
    );
    store
        .save_consumed_version(c, "a", "bank.Account-1", 3)
        .await
        .unwrap();
    assert_eq!(
        store.consumed_version(c, "a", "bank.Account-1").await.unwrap(),
        Some(3)
    );
    store
        .save_consumed_version(c, "a", "bank.Account-1", 5)
        .await
        .unwrap();
    store
        .save_consumed_version(c, "a", "bank.Account-2", 2)
        .await
        .unwrap();
    assert_eq!(
        store.consumed_version(c, "a", "bank.Account-1").await.unwrap(),
        Some(5)
    );
    assert_eq!(
        store.consumed_version(c, "b", "bank.Account-1").await.unwrap(),
        None
    );
    tx.commit().await.expect("commit");

    assert_eq!(
        store.read_consumed_version("a", "bank.Account-1").await.unwrap(),
        Some(5)
    );
    assert_eq!(
        store.read_consumed_version("a", "bank.Account-2").await.unwrap(),
        Some(2)
    );
    assert_eq!(
        store.read_consumed_version("b", "bank.Account-1").await.unwrap(),
        None
    );

    let mut tx = S::begin(&mut session).await.expect("begin");
    store
        .save_consumed_version(tx.connection(), "b", "bank.Account-1", 7)
        .await
        .unwrap();
    tx.commit().await.expect("commit");
    assert_eq!(
        store.read_consumed_version("b", "bank.Account-1").await.unwrap(),
        Some(7)
    );
    assert_eq!(
        store.read_consumed_version("a", "bank.Account-1").await.unwrap(),
        Some(5)
    );

    // Not committed: nothing forgotten.
    let mut tx = S::begin(&mut session).await.expect("begin");
    store.forget_consumed(tx.connection(), "a").await.unwrap();
    tx.rollback().await.expect("roll back");
    assert_eq!(
        store.read_consumed_version("a", "bank.Account-1").await.unwrap(),
        Some(5)
    );

    let mut tx = S::begin(&mut session).await.expect("begin");
    store.forget_consumed(tx.connection(), "a").await.unwrap();
    assert_eq!(
        store
            .consumed_version(tx.connection(), "a", "bank.Account-2")
            .await
            .unwrap(),
        None
    );
    tx.commit().await.expect("commit");
    assert_eq!(
        store.read_consumed_version("a", "bank.Account-1").await.unwrap(),
        None
    );
    assert_eq!(
        store.read_consumed_version("a", "bank.Account-2").await.unwrap(),
        None
    );
    assert_eq!(
        store.read_consumed_version("b", "bank.Account-1").await.unwrap(),
        Some(7)
    );
    assert_eq!(
        read(&store, &mut session, "a").await,
        Some(row(1, 5, 5, 5)),
        "the consumer's row stays"
    );

    S::close(session).await;
    store.clean_up().await;
}

/// Migrating again (twice) keeps the tables and what they hold.
async fn migrate_twice<S: Fixture>(store: S) {
    let mut session = store.connect().await.expect("connect");
    let saved = ConsumerRow {
        last_recorded_at: Some(at(1, 2)),
        ..row(3, 4, 5, 6)
    };
    assert!(save(&store, &mut session, "c", None, saved).await);
    let mut tx = S::begin(&mut session).await.expect("begin");
    store
        .save_consumed_version(tx.connection(), "c", "bank.Account-1", 8)
        .await
        .unwrap();
    tx.commit().await.expect("commit");

    store.migrate().await.expect("migrate again");
    store.migrate().await.expect("and again");

    assert_eq!(read(&store, &mut session, "c").await, Some(saved));
    assert_eq!(
        store.read_consumed_version("c", "bank.Account-1").await.unwrap(),
        Some(8)
    );
    S::close(session).await;
    store.clean_up().await;
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, ReadStoreError>, table: &str, column: &str) {
    match result {
        Err(ReadStoreError::Corrupt { table: found, detail }) => {
            assert_eq!(found, table);
            assert!(detail.contains(&format!("`{column}`")), "{detail}");
        }
        other => panic!("expected a corrupt row of `{table}`, got {other:?}"),
    }
}

/// Negative numbers (which Chronicle never writes) in either table are corrupt rows, on the
/// session, on the pool and in a transaction alike.
async fn corrupt_rows<S: Fixture>(store: S) {
    let mut session = store.connect().await.expect("connect");
    assert!(save(&store, &mut session, "bad", None, row(1, 2, 3, 4)).await);
    assert!(save(&store, &mut session, "worse", None, row(1, 2, 3, 4)).await);
    let mut tx = S::begin(&mut session).await.expect("begin");
    store
        .save_consumed_version(tx.connection(), "bad", "bank.Account-1", 1)
        .await
        .unwrap();
    tx.commit().await.expect("commit");

    let consumers = store.table("chronicle_consumers");
    let streams = store.table("chronicle_consumed_streams");
    store
        .raw(&format!(
            "UPDATE {consumers} SET version = -1 WHERE consumer = 'bad'"
        ))
        .await;
    store
        .raw(&format!(
            "UPDATE {consumers} SET broker_sequence = -5 WHERE consumer = 'worse'"
        ))
        .await;
    store
        .raw(&format!(
            "UPDATE {streams} SET version = -2 WHERE consumer = 'bad'"
        ))
        .await;

    assert_corrupt(store.read_consumer("bad").await, "chronicle_consumers", "version");
    assert_corrupt(
        store.load_consumer(&mut session, "bad").await,
        "chronicle_consumers",
        "version",
    );
    assert_corrupt(
        store.read_consumer("worse").await,
        "chronicle_consumers",
        "broker_sequence",
    );
    assert_corrupt(
        store.read_consumed_version("bad", "bank.Account-1").await,
        "chronicle_consumed_streams",
        "version",
    );
    let mut tx = S::begin(&mut session).await.expect("begin");
    assert_corrupt(
        store
            .consumed_version(tx.connection(), "bad", "bank.Account-1")
            .await,
        "chronicle_consumed_streams",
        "version",
    );
    tx.rollback().await.expect("roll back");

    S::close(session).await;
    store.clean_up().await;
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn fenced_save() {
        super::fenced_save(postgres().await).await;
    }

    #[tokio::test]
    async fn consumed_versions() {
        super::consumed_versions(postgres().await).await;
    }

    #[tokio::test]
    async fn migrate_twice() {
        super::migrate_twice(postgres().await).await;
    }

    #[tokio::test]
    async fn corrupt_rows() {
        super::corrupt_rows(postgres().await).await;
    }
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn fenced_save() {
        let file = TempFile::new("chronicle-consumers");
        super::fenced_save(sqlite(&file).await).await;
    }

    #[tokio::test]
    async fn consumed_versions() {
        let file = TempFile::new("chronicle-consumers");
        super::consumed_versions(sqlite(&file).await).await;
    }

    #[tokio::test]
    async fn migrate_twice() {
        let file = TempFile::new("chronicle-consumers");
        super::migrate_twice(sqlite(&file).await).await;
    }

    #[tokio::test]
    async fn corrupt_rows() {
        let file = TempFile::new("chronicle-consumers");
        super::corrupt_rows(sqlite(&file).await).await;
    }
}

mod mysql {
    use super::*;

    #[tokio::test]
    async fn fenced_save() {
        super::fenced_save(support::mysql_read_store().await).await;
    }

    #[tokio::test]
    async fn consumed_versions() {
        super::consumed_versions(support::mysql_read_store().await).await;
    }

    #[tokio::test]
    async fn migrate_twice() {
        super::migrate_twice(support::mysql_read_store().await).await;
    }

    #[tokio::test]
    async fn corrupt_rows() {
        super::corrupt_rows(support::mysql_read_store().await).await;
    }
}

mod redis {
    use super::*;

    #[tokio::test]
    async fn fenced_save() {
        super::fenced_save(support::redis_read_store().await).await;
    }

    #[tokio::test]
    async fn consumed_versions() {
        super::consumed_versions(support::redis_read_store().await).await;
    }

    #[tokio::test]
    async fn migrate_twice() {
        super::migrate_twice(support::redis_read_store().await).await;
    }
}
