//! The book's roles of least privilege (roles chapter): the deployment step that sets them up,
//! and the pools each service opens.

use chronicle::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use chronicle::sqlx::PgPool;
use chronicle::{PostgresReadStore, PostgresStore, Roles, StoreError};

// ANCHOR: setup
/// The deployment step, run by a DBA (or a migration job) as a superuser: both stores migrated,
/// then the four roles set up on them.
pub async fn set_up_roles(admin: PgPool) -> Result<(), StoreError> {
    let events = PostgresStore::from_pool(admin.clone()).with_schema("bank")?;
    let views = PostgresReadStore::from_pool(admin)
        .with_schema("bank_views")
        .map_err(|error| StoreError::Database(Box::new(error)))?;
    let roles = Roles::new()
        .owner("bank_owner")
        .writer("bank_writer")
        .projector("bank_projector")
        .reader("bank_reader");
    events.migrate_roles(&views, &roles).await
}
// ANCHOR_END: setup

// ANCHOR: services
/// A service's pool, logged in as its role: the API that executes commands as `bank_writer`,
/// the projection workers as `bank_projector`, the query API as `bank_reader`.
pub async fn pool_as(role: &str, password: &str) -> Result<PgPool, chronicle::sqlx::Error> {
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .database("bank")
        .username(role)
        .password(password);
    PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
}
// ANCHOR_END: services

#[test]
fn the_dry_run_prints_the_grants_and_refuses_hostile_names() {
    let sql = Roles::new().sql("bank", "bank_views").expect("plain names");
    assert!(sql.contains(r#"GRANT SELECT, INSERT ON "bank".chronicle_events TO "chronicle_writer";"#));
    assert!(Roles::new()
        .reader("reader\"; DROP TABLE chronicle_events; --")
        .sql("bank", "bank")
        .is_err());
}
