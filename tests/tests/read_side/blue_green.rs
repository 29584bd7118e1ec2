//! Blue/green rebuilds on every SQL engine (Postgres, SQLite, MariaDB), fed from a Postgres event
//! store: queries answered throughout a rebuild of a view over 100,000 events, each whole and
//! from one version or the other, the switch seen; two versions running side by side without
//! rebuilding each other, restarts included; the live pointer never going back; an old location
//! dropped only once its runner stopped and the grace period passed; a plain runner's read model
//! read until the first version is live; projection names no schema, file or database could be
//! called.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pace::quick;
use bank::MoneyDeposited;
use chronicle::prelude::*;
use chronicle::sqlx;
use chronicle::{
    sql, sql_as, BlueGreenHandle, BlueGreenRunner, Locations, MySqlReadStore, PostgresReadStore, Sql,
    SqlReadStore, SqliteReadStore,
};
use chronicle_tests::counts::insert_deposits;
use chronicle_tests::support::{self, PgBank, TempFile};
use chronicle_tests::wait::{eventually, until};

/// A build of 100,000 events on a shared machine.
pub(super) const BUILD: Duration = Duration::from_secs(240);
/// Everything else.
pub(super) const DEADLINE: Duration = Duration::from_secs(60);
/// Short, so that the tests see old locations dropped; the checks come often.
pub(super) const GRACE: Duration = Duration::from_secs(1);
pub(super) const CHECK_EVERY: Duration = Duration::from_millis(20);

/// What the view holds: events counted, their amounts summed, and the version that built it.
pub(super) type Totals = (i64, i64, i64);

/// An engine the shared scenarios run on: a read store with locations, the two versions of the
/// view written for it (and their queries), and how to see its locations from outside Chronicle.
pub(super) trait BlueGreenEngine: Sized {
    type Store: Locations;
    type V1: Projection<Store = Self::Store> + Default + Clone + Resets;
    type V2: Projection<Store = Self::Store> + Default + Clone + Resets;
    type Q1: Query<ReadModel = Self::V1, Output = Option<Totals>> + Default;
    type Q2: Query<ReadModel = Self::V2, Output = Option<Totals>> + Default;

    /// The read store the locations are beside.
    fn store(&self) -> &Self::Store;

    /// How many locations exist beside the store, as the engine lists them.
    async fn locations(&self) -> usize;

    /// Drops the locations the test made, and what else the test left.
    async fn clean_up(self, made: &[(&str, u32)]);

    /// What the engine checks of a finished rebuild besides the answers.
    async fn after_rebuild(&self) {}
}

/// How many times a view's `#[reset]` ran.
pub(super) trait Resets {
    fn resets(&self) -> u32;
}

/// Creates the view's one row, empty, built by `version`.
async fn reset_view(db: &mut Sql, version: i64) -> Result<(), sqlx::Error> {
    db.execute(sql(
        "CREATE TABLE IF NOT EXISTS bg_view (id BIGINT PRIMARY KEY, events BIGINT NOT NULL, \
         amount BIGINT NOT NULL, built_by BIGINT NOT NULL)",
    ))
    .await?;
    db.execute(sql("DELETE FROM bg_view")).await?;
    db.execute(sql("INSERT INTO bg_view (id, events, amount, built_by) VALUES (1, 0, 0, $1)").bind(version))
        .await
        .map(drop)
}

/// Adds a run of deposits in one statement.
async fn add(db: &mut Sql, events: &[MoneyDeposited], version: i64) -> Result<(), sqlx::Error> {
    let amount: i64 = events.iter().map(|event| event.amount).sum();
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    db.execute(
        sql("UPDATE bg_view SET events = events + $1, amount = amount + $2, built_by = $3 WHERE id = 1")
            .bind(count)
            .bind(amount)
            .bind(version),
    )
    .await
    .map(drop)
}

async fn totals(db: &mut ReadOnly<'_, Sql>) -> Result<Option<Totals>, sqlx::Error> {
    db.fetch_optional(sql_as(
        "SELECT events, amount, built_by FROM bg_view WHERE id = 1",
    ))
    .await
}

/// A version of the view: its type, its projection name, its version, its query. Each counts its
/// resets, so that a test sees a rebuild it did not ask for. Every version reads the same table,
/// so a newer version's query reads an older version's location (as the live one) unchanged.
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
            async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
                self.resets.fetch_add(1, Ordering::SeqCst);
                reset_view(db, $version).await
            }

            #[on]
            async fn deposited(&self, events: &[MoneyDeposited], db: &mut Sql) -> Result<(), sqlx::Error> {
                add(db, events, $version).await
            }

            #[query]
            async fn totals(
                &self,
                _query: &$query,
                db: &mut ReadOnly<'_, Sql>,
            ) -> Result<Option<Totals>, sqlx::Error> {
                totals(db).await
            }
        }

        /// The view's one row.
        #[derive(Query, Default)]
        #[query(output = Option<Totals>, read_model = $view)]
        pub(super) struct $query;
    };
}

view!(ViewV1, "bg_view", 1, TotalsV1);
view!(ViewV2, "bg_view", 2, TotalsV2);
// Names a schema, a file or a database could not be called: quotes, SQL, slashes, non-ASCII, and
// far longer than an identifier; and two that are the same once cleaned of what is hostile.
view!(
    LongHostile,
    "Bg.View'; DROP SCHEMA public CASCADE; -- \"quoted\" / ünïcødé 𝄞 and far longer than the 63 bytes an identifier may hold",
    1,
    LongHostileTotals
);
view!(Dotted, "Bg.View'; --", 1, DottedTotals);
view!(Underscored, "bg_view_____", 1, UnderscoredTotals);

/// A read side over the tests' Postgres event store and read store `R`.
pub(super) type SideOf<R> = ReadSide<PostgresStore, R>;

/// A read store on one engine, and how to see its locations from outside Chronicle.
struct Engine {
    store: SqlReadStore,
    place: Place,
}

enum Place {
    Postgres(PostgresReadStore),
    Sqlite(TempFile),
    MariaDb(MySqlReadStore),
}

/// The start of every location's name beside a store called `base`: `bg_`, then the base as
/// Chronicle cleans it, cut well before any name is (names are cut to fit an engine's limit).
fn location_prefix(base: &str) -> String {
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("bg_{cleaned}").chars().take(40).collect()
}

impl Engine {
    async fn postgres() -> Self {
        let read = support::postgres_read_store_elsewhere().await;
        Self {
            store: read.clone().into(),
            place: Place::Postgres(read),
        }
    }

    async fn sqlite() -> Self {
        let file = TempFile::new("chronicle-bg");
        let read = SqliteReadStore::open(file.path()).await.expect("open SQLite");
        read.migrate().await.expect("migrate SQLite");
        Self {
            store: read.into(),
            place: Place::Sqlite(file),
        }
    }

    async fn mariadb() -> Self {
        let read = support::mysql_read_store().await;
        Self {
            store: read.clone().into(),
            place: Place::MariaDb(read),
        }
    }

    /// How many locations exist beside the store: schemas, files or databases, as the engine
    /// lists them.
    async fn locations(&self) -> usize {
        match &self.place {
            Place::Postgres(read) => {
                let found: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.schemata WHERE position($1 in schema_name) = 1",
                )
                .bind(location_prefix(read.schema()))
                .fetch_one(read.pool())
                .await
                .expect("list schemas");
                usize::try_from(found).expect("a count")
            }
            Place::Sqlite(file) => {
                let name = file.path().file_name().expect("a file name").to_string_lossy();
                let prefix = location_prefix(&name);
                let dir = file.path().parent().expect("a directory");
                std::fs::read_dir(dir)
                    .expect("list the directory")
                    .filter_map(Result::ok)
                    .filter(|entry| {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        name.starts_with(&prefix) && name.ends_with(".db")
                    })
                    .count()
            }
            Place::MariaDb(read) => {
                let database = support::mysql_database(read).await;
                let found: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.schemata WHERE LEFT(schema_name, CHAR_LENGTH(?)) = ?",
                )
                .bind(location_prefix(&database))
                .bind(location_prefix(&database))
                .fetch_one(read.pool())
                .await
                .expect("list databases");
                usize::try_from(found).expect("a count")
            }
        }
    }

    /// Drops the locations the test made, and the store's own database on MariaDB.
    async fn clean_up(self, made: &[(&str, u32)]) {
        for (projection, version) in made {
            self.store
                .drop_location(projection, *version)
                .await
                .expect("drop a location");
        }
        assert_eq!(self.locations().await, 0, "every location is dropped");
        if let Place::MariaDb(read) = &self.place {
            support::drop_mysql_database(read).await;
        }
    }
}

impl BlueGreenEngine for Engine {
    type Store = SqlReadStore;
    type V1 = ViewV1;
    type V2 = ViewV2;
    type Q1 = TotalsV1;
    type Q2 = TotalsV2;

    fn store(&self) -> &SqlReadStore {
        &self.store
    }

    async fn locations(&self) -> usize {
        Engine::locations(self).await
    }

    async fn clean_up(self, made: &[(&str, u32)]) {
        Engine::clean_up(self, made).await
    }
}

/// A blue/green runner at the tests' pace: quick polls, large batches, frequent checks, a short
/// grace period.
pub(super) fn blue_green<P: Projection>(side: &SideOf<P::Store>, view: P) -> BlueGreenRunner<P, PostgresStore>
where
    P::Store: Locations,
{
    side.blue_green(view)
        .configure(|runner| quick(runner).batch_size(1_000))
        .check_every(CHECK_EVERY)
        .grace(GRACE)
}

pub(super) async fn stop<P: Projection>(handle: BlueGreenHandle<P, PostgresStore>)
where
    P::Store: Locations,
{
    handle
        .stop()
        .await
        .into_result()
        .expect("the runner stops cleanly");
}

/// Waits until `version` of `P` is live.
pub(super) async fn live<P: Projection>(side: &SideOf<P::Store>, version: u32, deadline: Duration)
where
    P::Store: Locations,
{
    eventually(
        &format!("version {version} of {} live", P::NAME),
        deadline,
        || async {
            let status = side.blue_green_status::<P>().await.expect("status");
            (status.live_version == Some(version)).then_some(())
        },
    )
    .await
}

/// Waits until `handle` has done `more` checks after now: each considers the switch and looks at
/// older locations, so whatever a check would do has had its chance that many times.
pub(super) async fn checks<P: Projection>(handle: &BlueGreenHandle<P, PostgresStore>, more: u64)
where
    P::Store: Locations,
{
    let target = handle.checks() + more;
    until("more checks", DEADLINE, || handle.checks() >= target).await;
}

/// Waits until `P`'s own location has applied every event (whichever version is live), none
/// held back by a transaction still open (another test's, in the same database, holds back
/// what comes after it).
pub(super) async fn built<P: Projection>(side: &SideOf<P::Store>, deadline: Duration)
where
    P::Store: Locations,
{
    eventually(
        &format!("{} v{} built", P::NAME, P::VERSION),
        deadline,
        || async {
            let status = side.blue_green_status::<P>().await.expect("status");
            let location = status.location;
            (location.stored_version == Some(P::VERSION)
                && location.lag_events == 0
                && location.held_back_events == 0)
                .then_some(())
        },
    )
    .await
}

/// What the querying task saw.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) answers: AtomicU64,
    /// The version that built the last answer.
    built_by: AtomicI64,
    /// Set when an answer came from version 2, after one from version 1.
    pub(super) switched: AtomicBool,
    pub(super) stop: AtomicBool,
}

/// Queries `query` of `read_model` (a deployment of version 2) in a loop, until told to stop:
/// every answer must be there, whole (never fewer than `floor` events, never fewer than the
/// answer before, amounts matching counts), and from version 1 and then version 2, never back.
pub(super) async fn query_loop<Q>(
    side: SideOf<<Q::ReadModel as Projection>::Store>,
    seen: Arc<Seen>,
    floor: i64,
    read_model: Q::ReadModel,
    query: Q,
) -> Result<u64, String>
where
    Q: Query<Output = Option<Totals>>,
    <Q::ReadModel as Projection>::Store: Locations,
{
    let mut last = 0;
    while !seen.stop.load(Ordering::SeqCst) {
        let answer = side
            .query_live(&read_model, &query)
            .await
            .map_err(|error| format!("query failed: {error}"))?;
        let (events, amount, built_by) = answer.ok_or("no answer: an empty read model")?;
        if events < floor || events < last || amount != events {
            return Err(format!(
                "a partial answer: {events} events, {amount} in amounts, after {last} (at least {floor})"
            ));
        }
        let before = seen.built_by.swap(built_by, Ordering::SeqCst);
        match (before, built_by) {
            (0 | 1, 1) | (2, 2) => {}
            (0 | 1, 2) => seen.switched.store(before == 1, Ordering::SeqCst),
            other => return Err(format!("answered by versions {other:?}: the switch went back")),
        }
        last = events;
        seen.answers.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }
    Ok(seen.answers.load(Ordering::SeqCst))
}

pub(super) async fn queries_are_answered_throughout_a_rebuild_of_100_000_events<E: BlueGreenEngine>(
    engine: E,
) {
    const EVENTS: u32 = 100_000;
    let bank = PgBank::new().await;
    insert_deposits(&bank.store, "bulk", 100, EVENTS).await;
    let side = ReadSide::new(bank.store.clone(), engine.store().clone());

    let v1 = blue_green(&side, E::V1::default()).spawn();
    live::<E::V1>(&side, 1, BUILD).await;
    let seen = Arc::new(Seen::default());
    let queries = tokio::spawn(query_loop(
        side.clone(),
        seen.clone(),
        i64::from(EVENTS),
        E::V2::default(),
        E::Q2::default(),
    ));
    until("a first answer", DEADLINE, || {
        seen.answers.load(Ordering::SeqCst) > 0
    })
    .await;

    let v2 = blue_green(&side, E::V2::default()).spawn();
    // Appends during the rebuild: both versions apply them, and the switch waits for them.
    bank.open("late").await;
    for _ in 0..5 {
        bank.deposit("late", 1).await;
    }
    eventually("the shadow's progress shown while it builds", BUILD, || async {
        let status = v2.status().await.expect("status");
        (status.live_version == Some(1) && status.serving_version == 1 && status.location.lag_events > 0)
            .then_some(())
    })
    .await;
    live::<E::V2>(&side, 2, BUILD).await;
    until("the switch seen by the queries", DEADLINE, || {
        seen.switched.load(Ordering::SeqCst)
    })
    .await;
    let after = seen.answers.load(Ordering::SeqCst) + 20;
    until("answers after the switch", DEADLINE, || {
        seen.answers.load(Ordering::SeqCst) >= after
    })
    .await;

    // The old deployment retires: its location goes once the grace period has passed.
    stop(v1).await;
    eventually("the old location dropped", DEADLINE, || async {
        let status = v2.status().await.expect("status");
        let versions: Vec<u32> = status.locations.iter().map(|l| l.version).collect();
        (versions == [2]).then_some(())
    })
    .await;
    assert_eq!(engine.locations().await, 1);

    seen.stop.store(true, Ordering::SeqCst);
    let answers = queries
        .await
        .expect("the query task")
        .expect("every answer whole");
    assert!(answers > 20, "{answers} answers");
    let answer = side
        .query_live(&E::V2::default(), &E::Q2::default())
        .await
        .unwrap();
    assert_eq!(answer, Some((i64::from(EVENTS) + 5, i64::from(EVENTS) + 5, 2)));
    engine.after_rebuild().await;
    stop(v2).await;
    engine.clean_up(&[("bg_view", 1), ("bg_view", 2)]).await;
}

pub(super) async fn two_versions_side_by_side_never_rebuild_each_other<E: BlueGreenEngine>(engine: E) {
    let bank = PgBank::new().await;
    insert_deposits(&bank.store, "side", 5, 50).await;
    let side = ReadSide::new(bank.store.clone(), engine.store().clone());
    let (one, two) = (E::V1::default(), E::V2::default());

    // Both deployments at once, as during a rolling update.
    let v1 = blue_green(&side, one.clone()).spawn();
    let v2 = blue_green(&side, two.clone()).spawn();
    live::<E::V2>(&side, 2, DEADLINE).await;
    insert_deposits(&bank.store, "more", 5, 25).await;
    built::<E::V1>(&side, DEADLINE).await;
    built::<E::V2>(&side, DEADLINE).await;
    // Each deployment reads its own version: the older one until it is retired.
    assert_eq!(
        side.query_live(&one, &E::Q1::default()).await.unwrap(),
        Some((75, 75, 1))
    );
    assert_eq!(
        side.query_live(&two, &E::Q2::default()).await.unwrap(),
        Some((75, 75, 2))
    );

    // Restarted in turns, each finds its own checkpoint: no rebuild in either direction.
    stop(v1).await;
    let v1 = blue_green(&side, one.clone()).spawn();
    stop(v2).await;
    let v2 = blue_green(&side, two.clone()).spawn();
    insert_deposits(&bank.store, "again", 5, 10).await;
    built::<E::V1>(&side, DEADLINE).await;
    built::<E::V2>(&side, DEADLINE).await;
    checks(&v1, 5).await;
    checks(&v2, 5).await;
    assert_eq!(one.resets(), 1, "version 1 built once");
    assert_eq!(two.resets(), 1, "version 2 built once");
    assert_eq!(
        side.query_live(&one, &E::Q1::default()).await.unwrap(),
        Some((85, 85, 1))
    );
    assert_eq!(
        side.query_live(&two, &E::Q2::default()).await.unwrap(),
        Some((85, 85, 2))
    );

    // The older deployment, caught up and checking, never takes the pointer back.
    assert_eq!(
        side.blue_green_status::<E::V1>().await.unwrap().live_version,
        Some(2)
    );
    checks(&v1, 10).await;
    let status = v1.status().await.unwrap();
    assert_eq!((status.live_version, status.serving_version), (Some(2), 1));
    assert_eq!(status.location.lag_events, 0);
    // And while it runs, its location stays, however many grace periods pass: the live
    // version's checks (each after a pause of `CHECK_EVERY`) span two of them.
    let spanning = u64::try_from(2 * GRACE.as_millis() / CHECK_EVERY.as_millis()).unwrap();
    checks(&v2, spanning).await;
    let versions: Vec<u32> = v2
        .status()
        .await
        .unwrap()
        .locations
        .iter()
        .map(|l| l.version)
        .collect();
    assert_eq!(versions, [1, 2], "the running version's location is kept");
    assert_eq!(engine.locations().await, 2);

    stop(v1).await;
    stop(v2).await;
    engine.clean_up(&[("bg_view", 1), ("bg_view", 2)]).await;
}

pub(super) async fn an_old_location_is_dropped_after_its_runner_stopped_and_the_grace_passed<
    E: BlueGreenEngine,
>(
    engine: E,
) {
    let bank = PgBank::new().await;
    insert_deposits(&bank.store, "grace", 3, 30).await;
    let side = ReadSide::new(bank.store.clone(), engine.store().clone());
    let v1 = blue_green(&side, E::V1::default()).spawn();
    live::<E::V1>(&side, 1, DEADLINE).await;
    let v2 = blue_green(&side, E::V2::default()).spawn();
    live::<E::V2>(&side, 2, DEADLINE).await;
    assert_eq!(engine.locations().await, 2);

    let stopped = Instant::now();
    stop(v1).await;
    let dropped = eventually("the old location dropped", DEADLINE, || async {
        let status = side.blue_green_status::<E::V2>().await.expect("status");
        status
            .locations
            .iter()
            .all(|location| location.version != 1)
            .then(Instant::now)
    })
    .await;
    assert!(
        dropped - stopped >= GRACE,
        "dropped {:?} after its runner stopped, within the grace period",
        dropped - stopped
    );
    assert_eq!(engine.locations().await, 1);
    // Its registration went with it; the live version answers on.
    let rows: Vec<String> = engine
        .store()
        .checkpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(!rows.contains(&"bg_view/v1".to_owned()), "{rows:?}");
    assert_eq!(
        side.query_live(&E::V2::default(), &E::Q2::default())
            .await
            .unwrap(),
        Some((30, 30, 2))
    );
    let status = side.blue_green_status::<E::V2>().await.unwrap();
    assert_eq!(status.locations.len(), 1);
    assert!(status.locations[0].live && status.locations[0].position.is_some());
    stop(v2).await;
    engine.clean_up(&[("bg_view", 2)]).await;
}

async fn hostile_projection_names_get_locations_of_their_own(engine: Engine) {
    let bank = PgBank::new().await;
    insert_deposits(&bank.store, "hostile", 2, 12).await;
    let side = ReadSide::new(bank.store.clone(), engine.store.clone());
    let long = blue_green(&side, LongHostile::default()).spawn();
    let dotted = blue_green(&side, Dotted::default()).spawn();
    live::<LongHostile>(&side, 1, DEADLINE).await;
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
        side.query_live(&Dotted::default(), &DottedTotals).await.unwrap(),
        expected
    );
    assert_eq!(
        side.query_live(&Underscored::default(), &UnderscoredTotals)
            .await
            .unwrap(),
        expected
    );
    assert_eq!(engine.locations().await, 3);
    // The store's own tables are untouched by the names.
    let rows: Vec<String> = engine
        .store
        .checkpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for name in [LongHostile::NAME, Dotted::NAME, Underscored::NAME] {
        assert!(rows.contains(&format!("{name}/live")), "{rows:?}");
        assert!(rows.contains(&format!("{name}/v1")), "{rows:?}");
    }
    stop(long).await;
    stop(dotted).await;
    stop(underscored).await;
    engine
        .clean_up(&[(LongHostile::NAME, 1), (Dotted::NAME, 1), (Underscored::NAME, 1)])
        .await;
}

/// A SQLite location is a file beside the store's, with a checkpoint table of its own; dropping
/// it removes the file, and dropping it again does nothing.
#[tokio::test]
async fn sqlite_locations_are_files_beside_the_store() {
    let engine = Engine::sqlite().await;
    let location = engine.store.at_location("bg_view", 7).await.unwrap();
    assert_eq!(engine.locations().await, 1);
    assert!(
        location.checkpoints().await.unwrap().is_empty(),
        "a checkpoint table of its own"
    );
    drop(location);
    engine.store.drop_location("bg_view", 7).await.unwrap();
    // Dropping what is gone does nothing.
    engine.store.drop_location("bg_view", 7).await.unwrap();
    assert_eq!(engine.locations().await, 0);
}

/// A projection moving to blue/green: before its first version is live, queries read the read
/// model a plain runner built in the store itself, whole, never the location being built; then
/// the first version, once caught up.
async fn a_plain_read_model_is_read_until_the_first_version_is_live(engine: Engine) {
    const EVENTS: u32 = 20_000;
    let bank = PgBank::new().await;
    insert_deposits(&bank.store, "plain", 50, EVENTS).await;
    let side = ReadSide::new(bank.store.clone(), engine.store.clone());
    // The projection as it ran before: a plain runner, its read model in the store itself.
    let plain = quick(side.runner(ViewV1::default())).batch_size(1_000).spawn();
    plain
        .wait_until_caught_up(BUILD)
        .await
        .expect("the plain read model built");
    plain.stop().await.into_result().expect("the plain runner stops");
    let status = side.blue_green_status::<ViewV2>().await.unwrap();
    assert_eq!((status.live_version, status.plain_version), (None, Some(1)));

    let seen = Arc::new(Seen::default());
    let queries = tokio::spawn(query_loop(
        side.clone(),
        seen.clone(),
        i64::from(EVENTS),
        ViewV2::default(),
        TotalsV2,
    ));
    until("a first answer", DEADLINE, || {
        seen.answers.load(Ordering::SeqCst) > 0
    })
    .await;
    let v2 = blue_green(&side, ViewV2::default()).spawn();
    live::<ViewV2>(&side, 2, BUILD).await;
    until("the switch seen by the queries", DEADLINE, || {
        seen.switched.load(Ordering::SeqCst)
    })
    .await;
    seen.stop.store(true, Ordering::SeqCst);
    let answers = queries
        .await
        .expect("the query task")
        .expect("every answer whole");
    assert!(answers > 1, "{answers} answers");
    let status = v2.status().await.unwrap();
    assert_eq!((status.live_version, status.plain_version), (Some(2), None));
    stop(v2).await;
    engine.clean_up(&[("bg_view", 2)]).await;
}

macro_rules! on_each_engine {
    ($($engine:ident: $open:expr;)*) => {$(
        mod $engine {
            use super::*;

            #[tokio::test]
            async fn queries_are_answered_throughout_a_rebuild_of_100_000_events() {
                super::queries_are_answered_throughout_a_rebuild_of_100_000_events($open.await).await;
            }

            #[tokio::test]
            async fn two_versions_side_by_side_never_rebuild_each_other() {
                super::two_versions_side_by_side_never_rebuild_each_other($open.await).await;
            }

            #[tokio::test]
            async fn an_old_location_is_dropped_after_its_runner_stopped_and_the_grace_passed() {
                super::an_old_location_is_dropped_after_its_runner_stopped_and_the_grace_passed($open.await).await;
            }

            #[tokio::test]
            async fn a_plain_read_model_is_read_until_the_first_version_is_live() {
                super::a_plain_read_model_is_read_until_the_first_version_is_live($open.await).await;
            }

            #[tokio::test]
            async fn hostile_projection_names_get_locations_of_their_own() {
                super::hostile_projection_names_get_locations_of_their_own($open.await).await;
            }
        }
    )*};
}

on_each_engine! {
    postgres: Engine::postgres();
    sqlite: Engine::sqlite();
    mariadb: Engine::mariadb();
}
