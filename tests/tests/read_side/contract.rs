//! The read-store contract, through the `ReadStore` API alone, on every read store: Postgres,
//! SQLite, MariaDB and Redis, each also behind a `SqlReadStore` where it is a SQL engine. A
//! checkpoint saved fenced on the one before it, kept only when its transaction commits, read
//! alike on a session and on the pool; dead letters per projection version, replaced, deleted by
//! version and by position; one leader per projection among sessions. (The runner-level contract,
//! the crash between the handlers and the commit among it, runs on each store in `portable.rs`
//! and `redis.rs`.)

use std::time::Duration;

use chronicle::prelude::*;
use chronicle::{Checkpoint, CheckpointRow, DeadLetter, DeadLetters, ReadTransaction, SqlReadStore};
use chronicle_tests::support::{self, TempFile};
use chrono::{TimeZone, Utc};
use uuid::Uuid;

use super::consumer_tables::Fixture;

const LEASE: Duration = Duration::from_secs(30);

fn checkpoint(version: u32, position: u64) -> CheckpointRow {
    CheckpointRow {
        version,
        checkpoint: Checkpoint {
            transaction_id: 0,
            position,
        },
    }
}

/// Saves `next` over `previous` in a transaction of its own, committed or rolled back.
async fn save<S: ReadStore>(
    store: &S,
    session: &mut S::Session,
    previous: Option<CheckpointRow>,
    next: CheckpointRow,
    commit: bool,
) -> bool {
    let mut tx = S::begin(session).await.expect("begin");
    let saved = store
        .save_checkpoint(tx.connection(), "contract", previous, next)
        .await
        .expect("save the checkpoint");
    if commit {
        tx.commit().await.expect("commit");
    } else {
        tx.rollback().await.expect("roll back");
    }
    saved
}

/// The checkpoint as the pool reads it, which the session must read too.
async fn current<S: ReadStore>(store: &S, session: &mut S::Session) -> Option<CheckpointRow> {
    let on_pool = store
        .read_checkpoint("contract")
        .await
        .expect("read the checkpoint");
    let on_session = store
        .load_checkpoint(session, "contract")
        .await
        .expect("load the checkpoint");
    assert_eq!(on_pool, on_session, "the pool and the session agree");
    on_pool
}

async fn checkpoints_are_fenced_and_transactional<S: ReadStore>(store: &S) {
    let mut session = store.connect().await.expect("a session");
    assert_eq!(current(store, &mut session).await, None);
    let first = checkpoint(1, 10);
    let second = checkpoint(1, 20);

    assert!(
        save(store, &mut session, None, first, true).await,
        "the first row"
    );
    assert_eq!(current(store, &mut session).await, Some(first));
    assert!(
        !save(store, &mut session, None, second, true).await,
        "no row expected, but one is there"
    );
    // Saved, then rolled back: as if it never happened.
    assert!(save(store, &mut session, Some(first), second, false).await);
    assert_eq!(current(store, &mut session).await, Some(first));
    assert!(save(store, &mut session, Some(first), second, true).await);
    assert_eq!(current(store, &mut session).await, Some(second));
    // A writer that still believes in `first` moves nothing.
    assert!(!save(store, &mut session, Some(first), checkpoint(1, 30), true).await);
    // A version bump is a move like another (the rebuild's).
    let rebuilt = checkpoint(2, 0);
    assert!(save(store, &mut session, Some(second), rebuilt, true).await);
    assert_eq!(current(store, &mut session).await, Some(rebuilt));
    assert_eq!(store.read_checkpoint("another").await.unwrap(), None);
    // The list has every row by name; only this one here (each test has a store of its own).
    let mut tx = S::begin(&mut session).await.expect("begin");
    let partition = checkpoint(1, 5);
    assert!(store
        .save_checkpoint(tx.connection(), "contract/0-of-2", None, partition)
        .await
        .unwrap());
    tx.commit().await.expect("commit");
    assert_eq!(
        store.checkpoints().await.unwrap(),
        vec![
            ("contract".to_owned(), rebuilt),
            ("contract/0-of-2".to_owned(), partition)
        ]
    );
    S::close(session).await;
}

fn letter(version: u32, position: u64, error: &str) -> DeadLetter {
    DeadLetter {
        projection: "contract".into(),
        version,
        position,
        transaction_id: 0,
        event_id: Some(Uuid::from_u128(u128::from(position))),
        stream_id: format!("bank.Account-{position}"),
        stream_version: position,
        event_type: "bank.MoneyDeposited".into(),
        error: error.into(),
        // Whole seconds: every store keeps them exactly.
        recorded_at: Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap(),
        retry_requested_at: None,
    }
}

/// Runs `change` in a committed transaction of its own.
macro_rules! committed {
    ($store:expr, $session:expr, |$connection:ident| $change:expr) => {{
        let mut tx = S::begin($session).await.expect("begin");
        let $connection = tx.connection();
        $change.await.expect("the change");
        tx.commit().await.expect("commit");
    }};
}

async fn dead_letters_per_version<S: ReadStore>(store: &S) {
    let mut session = store.connect().await.expect("a session");
    committed!(store, &mut session, |connection| store
        .record_dead_letter(connection, &letter(1, 7, "first try")));
    committed!(store, &mut session, |connection| store
        .record_dead_letter(connection, &letter(1, 5, "cursed")));
    committed!(store, &mut session, |connection| store
        .record_dead_letter(connection, &letter(2, 9, "still cursed")));
    // The same event by the same version again: replaced, not doubled.
    committed!(store, &mut session, |connection| store
        .record_dead_letter(connection, &letter(1, 7, "second try")));

    let first = store.dead_letters("contract", 1).await.unwrap();
    assert_eq!(first, vec![letter(1, 5, "cursed"), letter(1, 7, "second try")]);
    assert_eq!(
        store.dead_letters("contract", 2).await.unwrap(),
        vec![letter(2, 9, "still cursed")]
    );
    assert!(store.dead_letters("another", 1).await.unwrap().is_empty());

    // An operator's retry request marks one letter of one version; a letter that is not there
    // cannot be asked for. Recording the letter again (the retry failed) answers the request.
    assert!(
        !store.request_retry("contract", 1, 9).await.unwrap(),
        "no such letter of version 1"
    );
    assert!(!store.request_retry("another", 1, 5).await.unwrap());
    let before = Utc::now() - chrono::Duration::seconds(5);
    assert!(store.request_retry("contract", 1, 5).await.unwrap());
    let marked = store.dead_letters("contract", 1).await.unwrap();
    let requested = marked[0].retry_requested_at.expect("a retry requested");
    assert!(
        requested > before && requested < Utc::now() + chrono::Duration::seconds(5),
        "{requested}"
    );
    assert_eq!(marked[1].retry_requested_at, None, "only the letter asked for");
    assert_eq!(
        store.dead_letters("contract", 2).await.unwrap()[0].retry_requested_at,
        None
    );
    committed!(store, &mut session, |connection| store
        .record_dead_letter(connection, &letter(1, 5, "cursed")));
    assert_eq!(
        store.dead_letters("contract", 1).await.unwrap(),
        vec![letter(1, 5, "cursed"), letter(1, 7, "second try")]
    );
    assert!(store.request_retry("contract", 1, 7).await.unwrap());

    // A rolled-back record leaves nothing.
    let mut tx = S::begin(&mut session).await.expect("begin");
    store
        .record_dead_letter(tx.connection(), &letter(2, 11, "rolled back"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(store.dead_letters("contract", 2).await.unwrap().len(), 1);

    committed!(store, &mut session, |connection| store.delete_dead_letters(
        connection,
        "contract",
        DeadLetters::NotOfVersion(2)
    ));
    assert!(store.dead_letters("contract", 1).await.unwrap().is_empty());
    // The request went with its letter: recording the event again starts without one.
    committed!(store, &mut session, |connection| store
        .record_dead_letter(connection, &letter(1, 7, "second try")));
    assert_eq!(
        store.dead_letters("contract", 1).await.unwrap(),
        vec![letter(1, 7, "second try")]
    );
    committed!(store, &mut session, |connection| store.delete_dead_letters(
        connection,
        "contract",
        DeadLetters::NotOfVersion(2)
    ));
    committed!(store, &mut session, |connection| store.delete_dead_letters(
        connection,
        "contract",
        DeadLetters::AtPositions(&[9])
    ));
    assert!(store.dead_letters("contract", 2).await.unwrap().is_empty());
    S::close(session).await;
}

/// The holder a store names for a claim taken under `owner`: the owner itself, or on MariaDB,
/// whose locks name no owner, the session (`engine` is the contract module's name).
fn assert_holder(engine: &str, holder: &str, owner: Uuid) {
    if engine == "mysql" {
        assert!(holder.starts_with("connection "), "{holder}");
    } else {
        assert_eq!(holder, owner.to_string());
    }
}

async fn one_leader_per_projection<S: ReadStore>(store: &S, engine: &str) {
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let mut one = store.connect().await.expect("a session");
    let mut two = store.connect().await.expect("another session");
    assert_eq!(
        store.holder("contract").await.unwrap(),
        None,
        "nobody holds it yet"
    );
    assert!(store.try_lead(&mut one, "contract", first, LEASE).await.unwrap());
    assert!(!store.try_lead(&mut two, "contract", second, LEASE).await.unwrap());
    let holder = store.holder("contract").await.unwrap().expect("a holder");
    assert_holder(engine, &holder, first);
    // Another projection has a leader of its own.
    assert!(store
        .try_lead(&mut two, "contract.other", second, LEASE)
        .await
        .unwrap());
    assert!(store.keep_lead(&mut one, "contract", first, LEASE).await.unwrap());
    store.release_lead(&mut one, "contract", first).await.unwrap();
    assert_eq!(store.holder("contract").await.unwrap(), None, "released");
    assert!(store.try_lead(&mut two, "contract", second, LEASE).await.unwrap());
    let holder = store.holder("contract").await.unwrap().expect("a holder");
    assert_holder(engine, &holder, second);
    assert_ne!(store.holder("contract.other").await.unwrap(), None);
    store.release_lead(&mut two, "contract", second).await.unwrap();
    store
        .release_lead(&mut two, "contract.other", second)
        .await
        .unwrap();
    S::close(one).await;
    S::close(two).await;
}

/// The scenarios on a store of one engine, alone and, for the SQL engines, behind a
/// `SqlReadStore`.
macro_rules! contract {
    ($engine:ident, $open:expr $(, portable: $portable:ident)?) => {
        mod $engine {
            use super::*;

            #[tokio::test]
            async fn checkpoints_are_fenced_and_transactional() {
                let (store, _file) = $open;
                super::checkpoints_are_fenced_and_transactional(&store).await;
                store.clean_up().await;
            }

            #[tokio::test]
            async fn dead_letters_per_version() {
                let (store, _file) = $open;
                super::dead_letters_per_version(&store).await;
                store.clean_up().await;
            }

            #[tokio::test]
            async fn one_leader_per_projection() {
                let (store, _file) = $open;
                super::one_leader_per_projection(&store, stringify!($engine)).await;
                store.clean_up().await;
            }

            $(
            mod $portable {
                use super::*;

                #[tokio::test]
                async fn checkpoints_are_fenced_and_transactional() {
                    let (store, _file) = $open;
                    super::super::checkpoints_are_fenced_and_transactional(&SqlReadStore::from(store.clone())).await;
                    store.clean_up().await;
                }

                #[tokio::test]
                async fn dead_letters_per_version() {
                    let (store, _file) = $open;
                    super::super::dead_letters_per_version(&SqlReadStore::from(store.clone())).await;
                    store.clean_up().await;
                }

                #[tokio::test]
                async fn one_leader_per_projection() {
                    let (store, _file) = $open;
                    super::super::one_leader_per_projection(&SqlReadStore::from(store.clone()), stringify!($engine)).await;
                    store.clean_up().await;
                }
            }
            )?
        }
    };
}

async fn sqlite() -> (SqliteReadStore, TempFile) {
    let file = TempFile::new("chronicle-contract");
    let read = SqliteReadStore::open(file.path()).await.expect("open");
    read.migrate().await.expect("migrate");
    (read, file)
}

contract!(postgres, (support::postgres_read_store_elsewhere().await, ()), portable: as_sql);
contract!(sqlite, sqlite().await, portable: as_sql);
contract!(mysql, (support::mysql_read_store().await, ()), portable: as_sql);
contract!(redis, (support::redis_read_store().await, ()));
