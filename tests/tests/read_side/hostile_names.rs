//! Hostile names, swept over every store the same way: every name Chronicle is given either is
//! refused with a typed error before any store sees it, or is kept exactly as given without
//! reaching a statement or a key pattern as anything but a value.
//!
//! - A Postgres schema (the event store's and the read store's) must be a plain identifier, and
//!   not a system schema: `StoreError::InvalidName` / `ReadStoreError::InvalidName`.
//! - A projection's name (a relay's, a partitioned or blue/green projection's alike) is bound as
//!   a value: quotes, SQL, backslashes, `$1`, glob characters, `:`, unicode all work on Postgres,
//!   SQLite, MariaDB and Redis, each kept under exactly its name; an empty name, one with a NUL
//!   or one above `MAX_NAME_BYTES` fails the runner with `ReadStoreError::InvalidName` on every
//!   store, before the store saw it.
//! - A Redis key prefix with glob characters sees none of a look-alike prefix's keys.
//! - A handler's error text with NUL characters, quotes and emoji, and of a megabyte, becomes a
//!   dead letter on every store alike: NULs written `\0`, cut to `MAX_DEAD_LETTER_ERROR_BYTES`.
//! - SQLite files whose names hold quotes, SQL and unicode open as any other; one with a NUL is
//!   an error, not a panic.

use std::marker::PhantomData;
use std::time::Duration;

use chronicle::prelude::*;
use chronicle::{
    BoxFuture, HandlerError, Identity, OnPoison, ReadStoreError, RetryPolicy, StoreError,
    MAX_DEAD_LETTER_ERROR_BYTES, MAX_NAME_BYTES,
};
use chronicle_tests::conformance::events::command;
use chronicle_tests::support::{self, TempFile};

use super::consumer_tables::Fixture;

const DEADLINE: Duration = Duration::from_secs(20);

/// A projection that writes nothing of its own under the name it is given: its checkpoint shows
/// what a runner did under that name.
struct Named<S> {
    name: &'static str,
    store: PhantomData<fn() -> S>,
}

fn named<S>(name: &str) -> Named<S> {
    Named {
        name: Box::leak(name.to_owned().into_boxed_str()),
        store: PhantomData,
    }
}

impl<S: ReadStore> Projection for Named<S> {
    const NAME: &'static str = "test.named";
    const VERSION: u32 = 1;
    const EVENT_TYPES: &'static [&'static str] = &[];
    const HAS_RESET: bool = false;
    type Store = S;

    fn identity(&self) -> Identity<'_> {
        Identity {
            name: self.name,
            ..Identity::of::<Self>()
        }
    }

    fn apply<'a>(
        &'a self,
        _event: &'a RecordedEvent,
        _connection: &'a mut S::Connection,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async { Ok(()) })
    }

    fn reset<'a>(&'a self, _connection: &'a mut S::Connection) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A projection whose handler fails on every event with `error`.
struct Refusing<S> {
    error: String,
    store: PhantomData<fn() -> S>,
}

impl<S: ReadStore> Projection for Refusing<S> {
    const NAME: &'static str = "test.refusing";
    const VERSION: u32 = 1;
    const EVENT_TYPES: &'static [&'static str] = &[];
    const HAS_RESET: bool = false;
    type Store = S;

    fn apply<'a>(
        &'a self,
        _event: &'a RecordedEvent,
        _connection: &'a mut S::Connection,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async { Err(HandlerError::new(self.error.clone())) })
    }

    fn reset<'a>(&'a self, _connection: &'a mut S::Connection) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Odd and huge error texts: each event's handler fails, the runner dead-letters it and goes on;
/// the letters read back alike on every store.
async fn odd_handler_errors_become_dead_letters_alike<S: ReadStore>(store: &S) {
    let events = MemoryStore::new();
    events.append("s", 0, command(1)).await.unwrap();
    let odd = "nul \0 here, \"quotes\" 'and' \\ \u{1f980} e\u{301} \u{645}\u{631}\u{200f} $1 *?";
    let huge = format!("{odd} {}", "\u{e9}".repeat(512 * 1024));
    for (round, error) in [odd.to_owned(), huge].into_iter().enumerate() {
        if round > 0 {
            events.append("s", round as u64, command(1)).await.unwrap();
        }
        let runner = ProjectionRunner::new(
            events.clone(),
            store.clone(),
            Refusing::<S> {
                error,
                store: PhantomData,
            },
        )
        .retry(RetryPolicy::new(1, Duration::from_millis(1)))
        .on_poison(OnPoison::DeadLetter)
        .spawn();
        runner
            .wait_for(events.head().await.unwrap().position, DEADLINE)
            .await
            .expect("the runner dead-letters and goes on");
        runner.stop().await.into_result().expect("a clean stop");
    }
    let letters = store.dead_letters("test.refusing", 1).await.unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    let kept = odd.replace('\0', "\\0");
    assert!(letters[0].error.contains(&kept), "{}", letters[0].error);
    assert!(!letters[1].error.contains('\0'));
    assert!(
        letters[1].error.len() <= MAX_DEAD_LETTER_ERROR_BYTES,
        "{}",
        letters[1].error.len()
    );
    assert!(letters[1].error.contains(&kept) && letters[1].error.ends_with("[cut: the error was longer]"));
}

#[tokio::test]
async fn odd_handler_errors_on_postgres() {
    let store = support::postgres_read_store_elsewhere().await;
    odd_handler_errors_become_dead_letters_alike(&store).await;
    store.clean_up().await;
}

#[tokio::test]
async fn odd_handler_errors_on_sqlite() {
    let file = TempFile::new("chronicle-hostile");
    let store = SqliteReadStore::open(file.path()).await.expect("open");
    store.migrate().await.expect("migrate");
    odd_handler_errors_become_dead_letters_alike(&store).await;
    store.clean_up().await;
}

#[tokio::test]
async fn odd_handler_errors_on_mariadb() {
    let store = support::mysql_read_store().await;
    odd_handler_errors_become_dead_letters_alike(&store).await;
    store.clean_up().await;
}

#[tokio::test]
async fn odd_handler_errors_on_redis() {
    let store = support::redis_read_store().await;
    odd_handler_errors_become_dead_letters_alike(&store).await;
    store.clean_up().await;
}

/// Names that are not identifiers but are kept as they are.
fn kept_names() -> Vec<String> {
    vec![
        r#"x"; DROP TABLE chronicle_checkpoints; --"#.into(),
        "O'Brien's \\ back\\slash \\' \\\"".into(),
        "$1 $$ ? %s %_ {location}".into(),
        "*?[a-z]\\* glob".into(),
        "ns:checkpoint:other:1".into(),
        "\u{fc}n\u{ef}c\u{f8}d\u{e9} \u{1f980} \u{645}\u{631}\u{62d}\u{628}\u{627} e\u{301}".into(),
        "tab\tnew\nline\r\u{1b}[0m".into(),
        "n".repeat(MAX_NAME_BYTES),
    ]
}

/// Names no store keeps, and the rule each breaks.
fn refused_names() -> Vec<(String, &'static str)> {
    vec![
        (String::new(), "a name cannot be empty"),
        ("a\0b".into(), "a name cannot contain a NUL character"),
        (
            "n".repeat(MAX_NAME_BYTES + 1),
            "a name has at most 256 bytes (MAX_NAME_BYTES)",
        ),
        (
            "\u{1f980}".repeat(65),
            "a name has at most 256 bytes (MAX_NAME_BYTES)",
        ),
    ]
}

async fn projection_names_are_kept_exactly_or_refused_alike<S: ReadStore>(store: &S) {
    let events = MemoryStore::new();
    events.append("s", 0, command(3)).await.unwrap();
    let head = events.head().await.unwrap().position;
    for name in kept_names() {
        let runner = ProjectionRunner::new(events.clone(), store.clone(), named::<S>(&name))
            .poll_interval(Duration::from_millis(50))
            .spawn();
        runner
            .wait_for(head, DEADLINE)
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        runner.stop().await.into_result().expect("a clean stop");
        let row = store.read_checkpoint(&name).await.unwrap();
        assert_eq!(row.map(|r| r.checkpoint.position), head, "{name:?}");
    }
    for (name, rule) in refused_names() {
        let runner = ProjectionRunner::new(events.clone(), store.clone(), named::<S>(&name)).spawn();
        let error = tokio::time::timeout(DEADLINE, runner.join())
            .await
            .expect("the runner ends at once")
            .unwrap_err();
        match &error {
            ProjectionError::ReadStore(ReadStoreError::InvalidName {
                kind, rule: broken, ..
            }) => {
                assert_eq!((*kind, *broken), ("projection", rule), "{name:?}");
            }
            other => panic!("{name:?}: expected InvalidName, got {other:?}"),
        }
        assert!(error.to_string().contains(rule), "{error}");
    }
    // Each kept name holds its own row and nothing else does: no name matched another's.
    let mut names: Vec<String> = store
        .checkpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut expected = kept_names();
    names.sort();
    expected.sort();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn projection_names_on_postgres() {
    let store = support::postgres_read_store_elsewhere().await;
    projection_names_are_kept_exactly_or_refused_alike(&store).await;
    store.clean_up().await;
}

#[tokio::test]
async fn projection_names_on_sqlite() {
    let file = TempFile::new("chronicle-hostile");
    let store = SqliteReadStore::open(file.path()).await.expect("open");
    store.migrate().await.expect("migrate");
    projection_names_are_kept_exactly_or_refused_alike(&store).await;
    store.clean_up().await;
}

#[tokio::test]
async fn projection_names_on_mariadb() {
    let store = support::mysql_read_store().await;
    projection_names_are_kept_exactly_or_refused_alike(&store).await;
    store.clean_up().await;
}

#[tokio::test]
async fn projection_names_on_redis() {
    let store = support::redis_read_store().await;
    projection_names_are_kept_exactly_or_refused_alike(&store).await;
    store.clean_up().await;
}

#[tokio::test]
async fn projection_names_behind_a_portable_store() {
    let store = support::postgres_read_store_elsewhere().await;
    projection_names_are_kept_exactly_or_refused_alike(&SqlReadStore::from(store.clone())).await;
    store.clean_up().await;
}

/// Schema names that are not plain identifiers, or are Postgres' own.
fn hostile_schemas() -> Vec<String> {
    vec![
        r#"x"; drop table chronicle_events; --"#.into(),
        "x'; drop table chronicle_events; --".into(),
        r"back\slash".into(),
        "a\0b".into(),
        "\u{fc}n\u{ef}c\u{f8}d\u{e9}".into(),
        "\u{1f980}".into(),
        "s".repeat(64),
        "s".repeat(10 * 1024),
        String::new(),
        "$1".into(),
        "*".into(),
        "Public".into(),
        "a b".into(),
        "0abc".into(),
    ]
}

const SYSTEM_SCHEMAS: [&str; 5] = [
    "pg_catalog",
    "pg_toast",
    "pg_temp_1",
    "pg_anything",
    "information_schema",
];

#[tokio::test]
async fn postgres_schemas_that_are_not_plain_identifiers_or_are_system_schemas_are_refused() {
    let store = support::unmigrated_postgres_store().await;
    let read = support::postgres_read_store_elsewhere().await;
    let refused = hostile_schemas()
        .into_iter()
        .chain(SYSTEM_SCHEMAS.map(String::from));
    for schema in refused {
        match store.clone().with_schema(&schema) {
            Err(StoreError::InvalidName { kind, name, rule }) => {
                assert_eq!((kind, name.as_str()), ("Postgres schema", schema.as_str()));
                assert!(rule.contains("not a system schema"), "{rule}");
            }
            other => panic!("{schema:?}: expected InvalidName, got {:?}", other.map(|_| ())),
        }
        match read.clone().with_schema(&schema) {
            Err(ReadStoreError::InvalidName { kind, name, .. }) => {
                assert_eq!((kind, name.as_str()), ("Postgres schema", schema.as_str()));
            }
            other => panic!("{schema:?}: expected InvalidName, got {:?}", other.map(|_| ())),
        }
    }
    // The refusal names the rule, system schemas included.
    let error = store.clone().with_schema("pg_catalog").unwrap_err().to_string();
    assert!(
        error.contains("`pg_catalog`") && error.contains("system schema"),
        "{error}"
    );
    // Nothing was created for any of them.
    let created: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'x%drop%' OR nspname = 'Public'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(created, 0);
    read.clean_up().await;
}

#[tokio::test]
async fn a_redis_prefix_with_glob_characters_sees_no_look_alike_keys() {
    let base = support::redis_read_store().await;
    let prefix = format!("{}:*?[ab]", base.key_prefix());
    let hostile = RedisReadStore::open(&support::redis_url())
        .unwrap()
        .prefix(&prefix);
    hostile.migrate().await.unwrap();
    // A prefix the glob would match if it were not escaped.
    let look_alike = RedisReadStore::open(&support::redis_url())
        .unwrap()
        .prefix(&format!("{}:xya", base.key_prefix()));
    look_alike.migrate().await.unwrap();
    let events = MemoryStore::new();
    events.append("s", 0, command(2)).await.unwrap();
    let head = events.head().await.unwrap().position;
    for (store, name) in [(&hostile, "mine"), (&look_alike, "theirs")] {
        let runner =
            ProjectionRunner::new(events.clone(), store.clone(), named::<RedisReadStore>(name)).spawn();
        runner.wait_for(head, DEADLINE).await.unwrap();
        runner.stop().await.into_result().unwrap();
    }
    let names = |rows: Vec<(String, chronicle::CheckpointRow)>| -> Vec<String> {
        rows.into_iter().map(|(name, _)| name).collect()
    };
    assert_eq!(names(hostile.checkpoints().await.unwrap()), ["mine"]);
    assert_eq!(names(look_alike.checkpoints().await.unwrap()), ["theirs"]);
    hostile.clean_up().await;
    look_alike.clean_up().await;
    base.clean_up().await;
}

#[tokio::test]
async fn sqlite_files_with_hostile_names_open_as_any_other() {
    let dir = std::env::temp_dir().join(format!("chronicle-hostile-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = "x\"; DROP TABLE chronicle_events; -- 'O''Brien' \u{1f980} e\u{301} $1 *?.db";
    let store = SqliteStore::open(dir.join(name))
        .await
        .expect("open the event store");
    store.migrate().await.expect("migrate");
    store.append("s", 0, command(2)).await.unwrap();
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 2);
    let read = SqliteReadStore::open(dir.join(format!("read {name}")))
        .await
        .expect("open");
    read.migrate().await.expect("migrate");
    let runner = ProjectionRunner::new(store.clone(), read.clone(), named::<SqliteReadStore>("v")).spawn();
    runner
        .wait_for(store.head().await.unwrap().position, DEADLINE)
        .await
        .unwrap();
    runner.stop().await.into_result().unwrap();
    // A NUL cannot be in a file name: an error, not a panic.
    assert!(SqliteStore::open(dir.join("a\0b.db")).await.is_err());
    assert!(SqliteReadStore::open(dir.join("a\0b.db")).await.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
