//! Blue/green rebuilds on Redis, fed from a Postgres event store: the scenarios `blue_green.rs`
//! runs on the SQL engines, for a view whose handlers, `#[reset]` and queries name their keys
//! through `RedisWrites::key` (a location is a key namespace of its own on the same server):
//! queries answered throughout a rebuild of 100,000 events, each whole and from one version or the
//! other; two versions side by side never rebuilding each other; an old location dropped only once
//! its runner stopped and the grace period passed; hostile projection names (glob characters and
//! `:` among them) getting namespaces of their own; and `drop_location` removing every key of the
//! namespace, in batches, and nothing of another store's prefix however alike.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::blue_green::{blue_green, live, stop, BlueGreenEngine, Totals, DEADLINE};
use bank::MoneyDeposited;
use chronicle::prelude::*;
use chronicle::redis;
use chronicle::{Checkpoint, CheckpointRow, Locations, ReadStoreError, ReadTransaction};
use chronicle_tests::counts::insert_deposits;
use chronicle_tests::support::{self, PgBank};

/// The view's one hash, named through `key` so that each location has its own.
const VIEW: &str = "bg_view";

/// Creates the view's hash, empty, built by `version`.
fn reset_view(db: &mut RedisWrites, version: i64) -> Result<(), ReadStoreError> {
    let key = db.key(VIEW);
    db.queue(redis::cmd("DEL").arg(&key))?;
    db.queue(
        redis::cmd("HSET")
            .arg(&key)
            .arg("events")
            .arg(0)
            .arg("amount")
            .arg(0)
            .arg("built_by")
            .arg(version),
    )?;
    Ok(())
}

/// Adds a run of deposits: queued, and applied with the checkpoint in one `MULTI`/`EXEC`.
fn add(db: &mut RedisWrites, events: &[MoneyDeposited], version: i64) -> Result<(), ReadStoreError> {
    let amount: i64 = events.iter().map(|event| event.amount).sum();
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let key = db.key(VIEW);
    db.queue(redis::cmd("HINCRBY").arg(&key).arg("events").arg(count))?;
    db.queue(redis::cmd("HINCRBY").arg(&key).arg("amount").arg(amount))?;
    db.queue(redis::cmd("HSET").arg(&key).arg("built_by").arg(version))?;
    Ok(())
}

/// The hash, read in one command (so whole: a transaction applies all of a batch or none).
async fn totals(db: &mut ReadOnly<'_, RedisWrites>) -> Result<Option<Totals>, ReadStoreError> {
    let key = db.key(VIEW);
    let fields: (Option<i64>, Option<i64>, Option<i64>) = db
        .read(
            redis::cmd("HMGET")
                .arg(key)
                .arg("events")
                .arg("amount")
                .arg("built_by"),
        )
        .await?;
    Ok(match fields {
        (Some(events), Some(amount), Some(built_by)) => Some((events, amount, built_by)),
        _ => None,
    })
}

/// A version of the view: its type, its projection name, its version, its query. Each counts its
/// resets, so that a test sees a rebuild it did not ask for.
macro_rules! view {
    ($view:ident, $name:literal, $version:literal, $query:ident) => {
        #[derive(Default, Clone)]
        pub(super) struct $view {
            resets: Arc<AtomicU32>,
        }

        impl super::blue_green::Resets for $view {
            fn resets(&self) -> u32 {
                self.resets.load(Ordering::SeqCst)
            }
        }

        #[projection(name = $name, version = $version)]
        impl $view {
            #[reset]
            async fn reset(&self, db: &mut RedisWrites) -> Result<(), ReadStoreError> {
                self.resets.fetch_add(1, Ordering::SeqCst);
                reset_view(db, $version)
            }

            #[on]
            async fn deposited(
                &self,
                events: &[MoneyDeposited],
                db: &mut RedisWrites,
            ) -> Result<(), ReadStoreError> {
                add(db, events, $version)
            }

            #[query]
            async fn totals(
                &self,
                _query: &$query,
                db: &mut ReadOnly<'_, RedisWrites>,
            ) -> Result<Option<Totals>, ReadStoreError> {
                totals(db).await
            }
        }

        /// The view's one hash.
        #[derive(Query, Default)]
        #[query(output = Option<Totals>, read_model = $view)]
        pub(super) struct $query;
    };
}

view!(ViewV1, "bg_view", 1, TotalsV1);
view!(ViewV2, "bg_view", 2, TotalsV2);
// Names no key namespace should hold as they are: quotes, SQL, non-ASCII, far longer than a
// location's name; the glob characters of `SCAN MATCH` and `:`, which would reach into other
// namespaces; and two that are the same once cleaned of what is hostile.
view!(
    LongHostile,
    "Bg.View'; DROP SCHEMA public CASCADE; -- \"quoted\" / ünïcødé 𝄞 and far longer than the 120 bytes a location's name may hold, so cut",
    1,
    LongHostileTotals
);
view!(Globbed, "bg:view*[v]?\\:bg:*", 1, GlobbedTotals);
view!(Dotted, "Bg.View'; --", 1, DottedTotals);
view!(Underscored, "bg_view_____", 1, UnderscoredTotals);

/// Every key starting with `start` on the store's server: every key scanned, and the prefix
/// compared here, not through a `MATCH` pattern (whose escaping is what `drop_location` is tested
/// on).
async fn keys_under(read: &RedisReadStore, start: &str) -> BTreeSet<String> {
    let mut connection = read
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let mut cursor: u64 = 0;
    let mut found = BTreeSet::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await
            .expect("SCAN");
        found.extend(keys.into_iter().filter(|key| key.starts_with(start)));
        if next == 0 {
            return found;
        }
        cursor = next;
    }
}

/// Deletes every key starting with the store's prefix.
async fn delete_keys(read: &RedisReadStore) {
    let keys = keys_under(read, read.key_prefix()).await;
    if keys.is_empty() {
        return;
    }
    let mut connection = read
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let _: () = redis::cmd("DEL")
        .arg(keys.into_iter().collect::<Vec<_>>())
        .query_async(&mut connection)
        .await
        .expect("DEL");
}

/// A Redis read store on the test server under a prefix of its own, and how to see its
/// locations from outside Chronicle.
struct Engine {
    store: RedisReadStore,
}

impl Engine {
    async fn redis() -> Self {
        Self {
            store: support::redis_read_store().await,
        }
    }

    /// How many locations hold keys beside the store: the distinct namespaces
    /// `<prefix>:bg:<location>` of its keys.
    async fn locations(&self) -> usize {
        let start = format!("{}:bg:", self.store.key_prefix());
        keys_under(&self.store, &start)
            .await
            .iter()
            .filter_map(|key| key.strip_prefix(&start)?.split(':').next().map(str::to_owned))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Drops the locations the test made, then the store's own keys.
    async fn clean_up(self, made: &[(&str, u32)]) {
        for (projection, version) in made {
            self.store
                .drop_location(projection, *version)
                .await
                .expect("drop a location");
        }
        assert_eq!(self.locations().await, 0, "every location is dropped");
        delete_keys(&self.store).await;
    }
}

impl BlueGreenEngine for Engine {
    type Store = RedisReadStore;
    type V1 = ViewV1;
    type V2 = ViewV2;
    type Q1 = TotalsV1;
    type Q2 = TotalsV2;

    fn store(&self) -> &RedisReadStore {
        &self.store
    }

    async fn locations(&self) -> usize {
        Engine::locations(self).await
    }

    async fn clean_up(self, made: &[(&str, u32)]) {
        Engine::clean_up(self, made).await
    }

    async fn after_rebuild(&self) {
        // Every key of the view is in the location: none under the bare name.
        let location = self.store.at_location("bg_view", 2).await.unwrap();
        assert!(keys_under(&self.store, &location.model_key(VIEW)).await.len() == 1);
        assert!(
            !keys_under(&self.store, VIEW).await.contains(VIEW),
            "no key outside a location"
        );
    }
}

#[tokio::test]
async fn queries_are_answered_throughout_a_rebuild_of_100_000_events() {
    super::blue_green::queries_are_answered_throughout_a_rebuild_of_100_000_events(Engine::redis().await)
        .await;
}

#[tokio::test]
async fn two_versions_side_by_side_never_rebuild_each_other() {
    super::blue_green::two_versions_side_by_side_never_rebuild_each_other(Engine::redis().await).await;
}

#[tokio::test]
async fn an_old_location_is_dropped_after_its_runner_stopped_and_the_grace_passed() {
    super::blue_green::an_old_location_is_dropped_after_its_runner_stopped_and_the_grace_passed(
        Engine::redis().await,
    )
    .await;
}

#[tokio::test]
async fn hostile_projection_names_get_locations_of_their_own() {
    let engine = Engine::redis().await;
    let bank = PgBank::new().await;
    insert_deposits(&bank.store, "hostile", 2, 12).await;
    let side = ReadSide::new(bank.store.clone(), engine.store.clone());
    let long = blue_green(&side, LongHostile::default()).spawn();
    let globbed = blue_green(&side, Globbed::default()).spawn();
    let dotted = blue_green(&side, Dotted::default()).spawn();
    live::<LongHostile>(&side, 1, DEADLINE).await;
    live::<Globbed>(&side, 1, DEADLINE).await;
    live::<Dotted>(&side, 1, DEADLINE).await;
    // A name that is the dotted one once cleaned: a location of its own all the same.
    let underscored = blue_green(&side, Underscored::default()).spawn();
    live::<Underscored>(&side, 1, DEADLINE).await;
    let expected = Some((12, 12, 1));
    assert_eq!(
        side.query_live(&LongHostile::default(), &LongHostileTotals)
            .await
            .unwrap(),
        expected
    );
    assert_eq!(
        side.query_live(&Globbed::default(), &GlobbedTotals)
            .await
            .unwrap(),
        expected
    );
    assert_eq!(
        side.query_live(&Dotted::default(), &DottedTotals).await.unwrap(),
        expected
    );
    assert_eq!(
        side.query_live(&Underscored::default(), &UnderscoredTotals)
            .await
            .unwrap(),
        expected
    );
    assert_eq!(engine.locations().await, 4);
    // The store's own checkpoints hold the names as they are.
    let rows: Vec<String> = engine
        .store
        .checkpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for name in [LongHostile::NAME, Globbed::NAME, Dotted::NAME, Underscored::NAME] {
        assert!(rows.contains(&format!("{name}/live")), "{rows:?}");
        assert!(rows.contains(&format!("{name}/v1")), "{rows:?}");
    }
    stop(long).await;
    stop(globbed).await;
    stop(dotted).await;
    stop(underscored).await;
    // Dropping one takes only its own namespace, the glob characters of its name notwithstanding.
    engine.store.drop_location(Globbed::NAME, 1).await.unwrap();
    assert_eq!(engine.locations().await, 3);
    engine
        .clean_up(&[(LongHostile::NAME, 1), (Dotted::NAME, 1), (Underscored::NAME, 1)])
        .await;
}

/// Writes `count` keys of the read model and a checkpoint into `location`, through a runner's
/// session and transaction as handlers do.
async fn fill(location: &RedisReadStore, count: usize) {
    let mut session = location.connect().await.unwrap();
    let mut tx = RedisReadStore::begin(&mut session).await.unwrap();
    for n in 0..count {
        let key = tx.connection().key(&format!("item:{n}"));
        tx.connection().queue(redis::cmd("SET").arg(key).arg(n)).unwrap();
    }
    let row = CheckpointRow {
        version: 1,
        checkpoint: Checkpoint {
            transaction_id: 0,
            position: 1,
        },
    };
    assert!(location
        .save_checkpoint(tx.connection(), "p", None, row)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    RedisReadStore::close(session).await;
}

/// `drop_location` removes every key of the location's namespace, Chronicle's and the read
/// model's, more than one `UNLINK` batch of them; nothing of the store's own keys, of its other
/// locations (`_v1` is not the start of `_v12`), or of a store whose prefix the glob characters
/// of this one's would match. Dropping what is gone does nothing; `delete_checkpoint` deletes
/// the row and says whether there was one.
#[tokio::test]
async fn drop_location_removes_the_namespace_and_nothing_else() {
    let base = support::redis_read_store().await;
    // A prefix full of glob characters, and one that it would match unescaped.
    let hostile = RedisReadStore::open(&support::redis_url())
        .unwrap()
        .prefix(&format!("{}*[?]\\", base.key_prefix()));
    let matched = RedisReadStore::open(&support::redis_url())
        .unwrap()
        .prefix(&format!("{}xx?", base.key_prefix()));
    hostile.migrate().await.unwrap();
    matched.migrate().await.unwrap();

    let one = hostile.at_location("p", 1).await.unwrap();
    let twelve = hostile.at_location("p", 12).await.unwrap();
    assert!(one.is_location() && !hostile.is_location());
    assert!(one
        .key_prefix()
        .starts_with(&format!("{}:bg:", hostile.key_prefix())));
    assert!(one
        .model_key("item")
        .starts_with(&format!("{}:", one.key_prefix())));
    fill(&one, 2_500).await;
    fill(&twelve, 3).await;
    // The same location of the other store, and a key under its prefix that has the very name
    // of `one`'s namespace after it: `one`'s pattern, unescaped, would match both.
    let elsewhere = matched.at_location("p", 1).await.unwrap();
    fill(&elsewhere, 3).await;
    let lookalike = format!(
        "{}{}",
        matched.key_prefix(),
        one.model_key("item:0")
            .strip_prefix(hostile.key_prefix())
            .unwrap()
    );
    let mut connection = base.client().get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(&lookalike)
        .arg("kept")
        .query_async(&mut connection)
        .await
        .unwrap();
    // And a registration in the store itself, as the blue/green supervisor writes.
    let mut session = hostile.connect().await.unwrap();
    let mut tx = RedisReadStore::begin(&mut session).await.unwrap();
    let row = CheckpointRow {
        version: 1,
        checkpoint: Checkpoint::default(),
    };
    assert!(hostile
        .save_checkpoint(tx.connection(), "p/v1", None, row)
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let namespace = format!("{}:", one.key_prefix());
    assert_eq!(
        keys_under(&base, &namespace).await.len(),
        2_500 + 2,
        "items, layout, checkpoint"
    );
    let others_before = keys_under(&base, base.key_prefix()).await.len() - (2_500 + 2);

    hostile.drop_location("p", 1).await.unwrap();
    assert!(
        keys_under(&base, &namespace).await.is_empty(),
        "every key of the namespace"
    );
    assert_eq!(
        keys_under(&base, base.key_prefix()).await.len(),
        others_before,
        "nothing else"
    );
    assert_eq!(
        twelve.read_checkpoint("p").await.unwrap().map(|row| row.version),
        Some(1)
    );
    assert_eq!(
        elsewhere
            .read_checkpoint("p")
            .await
            .unwrap()
            .map(|row| row.version),
        Some(1)
    );
    let kept: Option<String> = redis::cmd("GET")
        .arg(&lookalike)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("kept"));
    // Dropping what is gone does nothing.
    hostile.drop_location("p", 1).await.unwrap();
    // Opened again, the location is there anew, empty and migrated.
    let again = hostile.at_location("p", 1).await.unwrap();
    assert_eq!(again.read_checkpoint("p").await.unwrap(), None);

    assert!(hostile.delete_checkpoint("p/v1").await.unwrap());
    assert!(!hostile.delete_checkpoint("p/v1").await.unwrap());
    assert_eq!(hostile.read_checkpoint("p/v1").await.unwrap(), None);

    RedisReadStore::close(session).await;
    for store in [&hostile, &matched, &base] {
        delete_keys(store).await;
    }
    assert!(keys_under(&base, base.key_prefix()).await.is_empty());
}
