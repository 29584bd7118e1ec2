//! A read model of personal data, rebuilt after `forget`: built while the subject is known it
//! holds their data (the runner opened the sealed fields); rebuilt after, nothing of theirs is
//! left in any row, and another subject's data is kept. On Postgres and on SQLite (the event
//! store and the read store of the same engine).

use std::time::Duration;

use super::pace::{quick, stop};
use chronicle::prelude::*;
use chronicle::sqlx;
use chronicle::{sql, sql_as, EventSource, ReadSide, Sql, SqlReadStore, FORGOTTEN};
use chronicle_tests::conformance::forgetting::{
    address_of, email_of, register_and_move, CustomerMoved, CustomerRegistered,
};
use chronicle_tests::support;

const CATCH_UP: Duration = Duration::from_secs(15);

/// Every customer row: id, email, phone, address, plan.
type Row = (String, String, Option<String>, Option<String>, String);

/// The whole directory, row by row.
#[derive(Query)]
#[query(output = Vec<Row>, read_model = DirectoryV1)]
struct Everyone;

macro_rules! directory {
    ($name:ident, $version:literal $(, $($queries:tt)*)?) => {
        #[derive(Default)]
        struct $name;

        #[projection(name = "customer_directory", version = $version)]
        impl $name {
            #[reset]
            async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
                db.execute(sql(
                    "CREATE TABLE IF NOT EXISTS customer_directory (customer_id TEXT PRIMARY KEY, \
                     email TEXT NOT NULL, phone TEXT, address TEXT, plan TEXT NOT NULL)",
                ))
                .await?;
                db.execute(sql("DELETE FROM customer_directory")).await.map(drop)
            }

            #[on]
            async fn registered(&self, event: &CustomerRegistered, db: &mut Sql) -> Result<(), sqlx::Error> {
                db.execute(
                    sql("INSERT INTO customer_directory (customer_id, email, phone, plan) VALUES ($1, $2, $3, $4)")
                        .bind(&event.customer_id)
                        .bind(&event.email)
                        .bind(event.phone.clone())
                        .bind(&event.plan),
                )
                .await
                .map(drop)
            }

            #[on]
            async fn moved(&self, event: &CustomerMoved, db: &mut Sql) -> Result<(), sqlx::Error> {
                db.execute(
                    sql("UPDATE customer_directory SET address = $1 WHERE customer_id = $2")
                        .bind(&event.address)
                        .bind(&event.customer_id),
                )
                .await
                .map(drop)
            }

            $($($queries)*)?
        }
    };
}

directory! {
    DirectoryV1,
    1,
    #[query]
    async fn everyone(&self, _query: &Everyone, db: &mut ReadOnly<'_, Sql>) -> Result<Vec<Row>, sqlx::Error> {
        db.fetch_all(sql_as(
            "SELECT customer_id, email, phone, address, plan FROM customer_directory ORDER BY customer_id",
        ))
        .await
    }
}
directory!(DirectoryV2, 2);

async fn everyone<S: EventSource>(side: &ReadSide<S, SqlReadStore>) -> Vec<Row> {
    side.query(&DirectoryV1, &Everyone)
        .await
        .expect("read the directory")
}

/// Whether any column of any row holds personal data of customer `id`.
fn mentions(rows: &[Row], id: &str) -> bool {
    rows.iter().any(|(_, email, phone, address, _)| {
        let texts = [Some(email.as_str()), phone.as_deref(), address.as_deref()];
        texts.iter().flatten().any(|text| {
            text.contains(&email_of(id))
                || text.contains(&address_of(id))
                || text.contains(&format!("+41 {id}"))
        })
    })
}

async fn a_rebuild_after_forget_leaves_no_personal_data<S: EventSource>(store: S, read: SqlReadStore) {
    let chronicle = Chronicle::new(store.clone());
    register_and_move(&chronicle, "c-1").await;
    register_and_move(&chronicle, "c-2").await;
    let side = ReadSide::new(store.clone(), read);

    let first = quick(side.runner(DirectoryV1)).spawn();
    first.wait_until_caught_up(CATCH_UP).await.unwrap();
    stop(first).await;
    let before = everyone(&side).await;
    assert!(
        mentions(&before, "c-1"),
        "the runner opened the sealed fields: {before:?}"
    );
    assert_eq!(before[0].1, email_of("c-1"));

    chronicle.forget("c-1").await.expect("forget");
    let rebuilt = quick(side.runner(DirectoryV2)).spawn();
    rebuilt.wait_until_caught_up(CATCH_UP).await.unwrap();
    let status = side.status::<DirectoryV2>().await.unwrap();
    assert_eq!(status.version, 2);
    let letters = side.dead_letters::<DirectoryV2>().await.unwrap();
    assert!(
        letters.is_empty(),
        "a forgotten subject's events are not poison: {letters:?}"
    );
    stop(rebuilt).await;

    let after = everyone(&side).await;
    assert!(
        !mentions(&after, "c-1"),
        "personal data left after the rebuild: {after:?}"
    );
    assert_eq!(
        after[0],
        (
            "c-1".into(),
            FORGOTTEN.into(),
            None,
            Some(FORGOTTEN.into()),
            "basic".into()
        )
    );
    assert_eq!(after[1].1, email_of("c-2"), "another subject's data is kept");
    assert_eq!(after[1].3.as_deref(), Some(address_of("c-2").as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_rebuild_after_forget_leaves_no_personal_data() {
    let store = super::fresh_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    a_rebuild_after_forget_leaves_no_personal_data(store.clone(), read.into()).await;
    support::drop_schema(store.pool(), store.schema()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_rebuild_after_forget_leaves_no_personal_data() {
    let store = support::sqlite_store().await;
    let read = support::sqlite_read_store().await;
    a_rebuild_after_forget_leaves_no_personal_data(store, read.into()).await;
}

/// Customers per tenant: `(tenant, customer_id)` is the key, as a per-tenant view keeps it.
macro_rules! tenant_directory {
    ($name:ident, $version:literal) => {
        #[derive(Default)]
        struct $name;

        #[projection(name = "tenant_directory", version = $version)]
        impl $name {
            #[reset]
            async fn reset(&self, db: &mut Sql) -> Result<(), sqlx::Error> {
                db.execute(sql(
                    "CREATE TABLE IF NOT EXISTS tenant_directory (tenant TEXT NOT NULL, \
                     customer_id TEXT NOT NULL, email TEXT NOT NULL, PRIMARY KEY (tenant, customer_id))",
                ))
                .await?;
                db.execute(sql("DELETE FROM tenant_directory")).await.map(drop)
            }

            #[on]
            async fn registered(
                &self,
                event: &CustomerRegistered,
                meta: &RecordedEvent,
                db: &mut Sql,
            ) -> Result<(), sqlx::Error> {
                db.execute(
                    sql("INSERT INTO tenant_directory (tenant, customer_id, email) VALUES ($1, $2, $3)")
                        .bind(&meta.tenant)
                        .bind(&event.customer_id)
                        .bind(&event.email),
                )
                .await
                .map(drop)
            }
        }
    };
}
tenant_directory!(TenantDirectoryV1, 1);
tenant_directory!(TenantDirectoryV2, 2);

/// The emails of the tenant directory, by tenant.
async fn emails_by_tenant(read: &SqlReadStore) -> Vec<(String, String)> {
    use chronicle::{ReadStore as _, ReadTransaction as _};
    let mut tx = read.begin_read_only().await.expect("a read transaction");
    let rows = tx
        .connection()
        .fetch_all(sql_as::<(String, String)>(
            "SELECT tenant, email FROM tenant_directory ORDER BY tenant",
        ))
        .await
        .expect("read the tenant directory");
    let _ = tx.rollback().await;
    rows
}

/// One runner serves both tenants: it opens each event's fields with its own tenant's key, so
/// forgetting acme's customer `c-1` and rebuilding leaves globex's `c-1` (another person) intact.
async fn forgetting_in_one_tenant_leaves_the_others_subject<S: EventSource>(store: S, read: SqlReadStore) {
    let chronicle = Chronicle::new(store.clone());
    let tenant = |id| Tenant::new(id).expect("plain");
    let (acme, globex) = (
        chronicle.for_tenant(tenant("acme")),
        chronicle.for_tenant(tenant("globex")),
    );
    register_and_move(&acme, "c-1").await;
    register_and_move(&globex, "c-1").await;
    let side = ReadSide::new(store.clone(), read.clone());
    let first = quick(side.runner(TenantDirectoryV1)).spawn();
    first.wait_until_caught_up(CATCH_UP).await.unwrap();
    stop(first).await;
    let both = vec![
        ("acme".to_owned(), email_of("c-1")),
        ("globex".to_owned(), email_of("c-1")),
    ];
    assert_eq!(emails_by_tenant(&read).await, both);

    acme.forget("c-1").await.expect("forget acme's c-1");
    let rebuilt = quick(side.runner(TenantDirectoryV2)).spawn();
    rebuilt.wait_until_caught_up(CATCH_UP).await.unwrap();
    stop(rebuilt).await;
    assert_eq!(
        emails_by_tenant(&read).await,
        vec![
            ("acme".to_owned(), FORGOTTEN.to_owned()),
            ("globex".to_owned(), email_of("c-1")),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_forgetting_in_one_tenant_leaves_the_others_subject() {
    let store = super::fresh_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    forgetting_in_one_tenant_leaves_the_others_subject(store.clone(), read.into()).await;
    support::drop_schema(store.pool(), store.schema()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_forgetting_in_one_tenant_leaves_the_others_subject() {
    let store = support::sqlite_store().await;
    let read = support::sqlite_read_store().await;
    forgetting_in_one_tenant_leaves_the_others_subject(store, read.into()).await;
}
