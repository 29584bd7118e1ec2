//! The roles of least privilege (`Roles`, `PostgresStore::migrate_roles`), logged in as each: the
//! writer processes commands and the projector catches a view up and the reader answers queries,
//! and each is refused everything else: the writer `UPDATE`, `DELETE`, `TRUNCATE`, disabling the
//! append-only triggers and replica mode; the reader any write and the events, including the
//! forged-event attack of a query sending `COMMIT` and then an `INSERT`, and the subjects' keys of
//! `#[pii]` fields (the writer creates and forgets them, the projector reads them).

use std::time::Duration;

use bank::views::postgres::{AccountBalances, BalanceOf};
use bank::{Deposit, OpenAccount};
use chronicle::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use chronicle::sqlx::{self, PgPool};
use chronicle::{
    Chronicle, EventStore as _, PostgresReadStore, PostgresStore, ProjectionRunner, ReadSide, Roles,
};
use chronicle_tests::conformance::forgetting::register_and_move;
use chronicle_tests::support;

/// A pool logged in as `role`, its `search_path` the test's schema.
async fn login(role: &str, schema: &str) -> PgPool {
    let options = support::database_url()
        .parse::<PgConnectOptions>()
        .expect("a valid test database URL")
        .username(role)
        .options([("search_path", schema)]);
    PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap_or_else(|error| panic!("log in as {role}: {error}"))
}

/// Runs `sql` on `pool` and expects Postgres to refuse it for want of a privilege: `42501`
/// (insufficient privilege), the code of "permission denied" and of "must be owner".
async fn refused(pool: &PgPool, sql: &str) {
    let error = sqlx::raw_sql(sql)
        .execute(pool)
        .await
        .expect_err(&format!("refused: {sql}"));
    let code = error
        .as_database_error()
        .and_then(|database| database.code().map(|code| code.into_owned()));
    assert_eq!(code.as_deref(), Some("42501"), "{sql}: {error}");
}

#[tokio::test]
async fn each_role_does_its_job_and_is_refused_everything_else() {
    let admin = support::postgres_pool(2).await;
    let schema = support::fresh_schema_name();
    let prefix = format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let roles = Roles::new()
        .owner(&format!("{prefix}_owner"))
        .writer(&format!("{prefix}_writer"))
        .projector(&format!("{prefix}_projector"))
        .reader(&format!("{prefix}_reader"));
    let store = PostgresStore::from_pool(admin.clone())
        .with_schema(&schema)
        .unwrap();
    let read = PostgresReadStore::from_pool(admin.clone())
        .with_schema(&schema)
        .unwrap();
    store.migrate_roles(&read, &roles).await.expect("the roles");
    store
        .migrate_roles(&read, &roles)
        .await
        .expect("the roles, again");

    // The writer processes commands, and migrating the complete tables needs no DDL.
    let writer = login(&format!("{prefix}_writer"), &schema).await;
    let written = PostgresStore::from_pool(writer.clone())
        .with_schema(&schema)
        .unwrap();
    written.migrate().await.expect("the writer may call migrate");
    let bank = Chronicle::new(written.clone());
    bank.execute(OpenAccount {
        account_id: "r-1".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    })
    .await
    .expect("the writer opens an account");
    let receipt = bank
        .execute(Deposit {
            account_id: "r-1".into(),
            amount: 40,
        })
        .await
        .expect("the writer deposits");
    // The writer seals personal data (creating its subject's key) and forgets a subject.
    let crm = Chronicle::new(written.clone());
    register_and_move(&crm, "c-r").await;
    let forgotten = crm.forget("c-r").await.expect("the writer forgets a subject");
    assert!(forgotten.key_destroyed);
    // ... and is refused everything else on the log.
    for sql in [
        "DELETE FROM chronicle_subject_keys",
        "TRUNCATE chronicle_subject_keys",
        "UPDATE chronicle_events SET payload = '{\"amount\": 1000000}'",
        "DELETE FROM chronicle_events",
        "TRUNCATE chronicle_events",
        "ALTER TABLE chronicle_events DISABLE TRIGGER USER",
        "SET session_replication_role = replica",
        "DROP TABLE chronicle_events",
        "INSERT INTO chronicle_checkpoints (projection, version, transaction_id, position) VALUES ('x', 1, 0, 0)",
    ] {
        refused(&writer, sql).await;
    }

    // The projector catches the view up: it creates the read model's table and writes it.
    let projector = login(&format!("{prefix}_projector"), &schema).await;
    let source = PostgresStore::from_pool(projector.clone())
        .with_schema(&schema)
        .unwrap();
    let views = PostgresReadStore::from_pool(projector.clone())
        .with_schema(&schema)
        .unwrap();
    views.migrate().await.expect("the projector may call migrate");
    let runner = ProjectionRunner::new(source.clone(), views, AccountBalances).spawn();
    runner
        .wait_for(receipt.position, Duration::from_secs(60))
        .await
        .expect("the projector catches up");
    runner.stop().await.into_result().expect("the runner stops");
    // It reads the keys, to open sealed fields, and cannot change them.
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM chronicle_subject_keys")
        .fetch_one(&projector)
        .await
        .expect("the projector reads the keys");
    assert_eq!(keys, 1);
    for sql in [
        "UPDATE chronicle_subject_keys SET key = NULL",
        "DELETE FROM chronicle_subject_keys",
        "INSERT INTO chronicle_events (stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id) \
         VALUES ('bank.Account-r-1', 3, gen_random_uuid(), 'bank.MoneyDeposited', 1, '{}', '{}', gen_random_uuid())",
        "UPDATE chronicle_events SET payload = '{}'",
        "ALTER TABLE chronicle_events DISABLE TRIGGER USER",
    ] {
        refused(&projector, sql).await;
    }

    // The reader answers queries, read-your-writes included.
    let reader = login(&format!("{prefix}_reader"), &schema).await;
    let side = ReadSide::new(
        PostgresStore::from_pool(reader.clone())
            .with_schema(&schema)
            .unwrap(),
        PostgresReadStore::from_pool(reader.clone())
            .with_schema(&schema)
            .unwrap(),
    );
    let balance = side
        .query_consistent(
            &AccountBalances,
            &BalanceOf {
                account_id: "r-1".into(),
            },
            &receipt,
            Duration::from_secs(10),
        )
        .await
        .expect("the reader queries")
        .expect("the account");
    assert_eq!(balance.balance, 40);
    // ... and is refused every write, and the log itself.
    for sql in [
        "SELECT * FROM chronicle_events",
        "SELECT payload FROM chronicle_events",
        "SELECT metadata FROM chronicle_events",
        "SELECT * FROM chronicle_dead_letters",
        "SELECT * FROM chronicle_subject_keys",
        "SELECT subject FROM chronicle_subject_keys",
        "UPDATE bank_account_balances SET balance = 1000000",
        "DELETE FROM bank_account_balances",
        "INSERT INTO chronicle_checkpoints (projection, version, transaction_id, position) VALUES ('x', 1, 0, 0)",
        // The forged-event attack through a query handle: end its read-only transaction, then write.
        "BEGIN READ ONLY; COMMIT; INSERT INTO chronicle_events (stream_id, stream_version, event_id, event_type, \
         event_version, payload, metadata, command_id) VALUES ('bank.Account-r-1', 3, gen_random_uuid(), \
         'bank.MoneyDeposited', 1, '{\"account_id\": \"r-1\", \"amount\": 1000000}', '{}', gen_random_uuid())",
    ] {
        refused(&reader, sql).await;
    }
    // Nothing forged reached the log: the aggregate loads the balance it had.
    let loaded = bank.store().read_stream(&receipt.stream_id, 0).await.unwrap();
    assert_eq!(loaded.len(), 2, "the opening and the deposit, nothing else");

    for pool in [writer, projector, reader] {
        pool.close().await;
    }
    // The test's roles go with the schema: what they own, then themselves.
    sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&admin)
        .await
        .expect("drop the schema");
    for role in ["writer", "projector", "reader", "owner"] {
        sqlx::raw_sql(&format!(
            "DROP OWNED BY \"{prefix}_{role}\"; DROP ROLE \"{prefix}_{role}\""
        ))
        .execute(&admin)
        .await
        .unwrap_or_else(|error| panic!("drop role {role}: {error}"));
    }
}
