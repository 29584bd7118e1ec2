//! `chronicle migrate --roles`: the dry run prints the grants and creates nothing; hostile names
//! and targets without roles are one line and a non-zero exit, changing nothing; the real run
//! leaves each role with its privileges and no more, and running it again changes nothing.

use std::process::Output;

use chronicle::sqlx::{self, PgPool};
use chronicle_tests::command_line::{self, fails_with, stdout};
use chronicle_tests::support::{self, TempFile};

fn chronicle(args: &[&str]) -> Output {
    command_line::run(env!("CARGO_BIN_EXE_chronicle"), args)
}

/// How many of `names` exist as roles.
async fn existing(pool: &PgPool, names: &[String]) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM pg_roles WHERE rolname = ANY($1)")
        .bind(names)
        .fetch_one(pool)
        .await
        .expect("count roles")
}

/// Whether `role` has `privilege` on `table`.
async fn may(pool: &PgPool, role: &str, table: &str, privilege: &str) -> bool {
    sqlx::query_scalar("SELECT has_table_privilege($1, $2, $3)")
        .bind(role)
        .bind(table)
        .bind(privilege)
        .fetch_one(pool)
        .await
        .expect("a privilege")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_sets_up_the_roles_of_least_privilege() {
    let admin = support::postgres_pool(2).await;
    let url = support::database_url();
    let schema = support::fresh_schema_name();
    let prefix = format!("c{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let names: Vec<String> = ["owner", "writer", "projector", "reader"]
        .iter()
        .map(|role| format!("{prefix}_{role}"))
        .collect();
    let mut args = vec!["--database-url", &url, "--schema", &schema, "migrate", "--roles"];
    let flags = ["--owner", "--writer", "--projector", "--reader"];
    for (flag, name) in flags.iter().zip(&names) {
        args.push(flag);
        args.push(name);
    }

    // The dry run prints the grants and creates nothing.
    let mut dry = args.clone();
    dry.push("--dry-run");
    let printed = stdout(&chronicle(&dry));
    let grant = format!("GRANT SELECT, INSERT ON \"{schema}\".chronicle_events TO \"{prefix}_writer\";");
    assert!(printed.contains(&grant), "{printed}");
    assert_eq!(existing(&admin, &names).await, 0);

    // Hostile names and targets without roles: one line, a non-zero exit, nothing made.
    fails_with(
        &chronicle(&[
            "--database-url",
            &url,
            "--schema",
            &schema,
            "migrate",
            "--roles",
            "--reader",
            "r\"; DROP ROLE postgres; --",
        ]),
        "invalid Postgres role name",
    );
    let file = TempFile::new("cli-roles");
    let sqlite = format!("sqlite:{}", file.path().display());
    fails_with(
        &chronicle(&["--database-url", &sqlite, "migrate", "--roles"]),
        "--roles sets up Postgres roles",
    );
    assert!(!file.path().exists(), "no file created");
    assert_eq!(existing(&admin, &names).await, 0);

    // The real run, twice.
    for _ in 0..2 {
        let done = stdout(&chronicle(&args));
        assert!(done.contains("and set up the roles on it"), "{done}");
    }
    assert_eq!(existing(&admin, &names).await, 4);
    let events = format!("\"{schema}\".chronicle_events");
    let checkpoints = format!("\"{schema}\".chronicle_checkpoints");
    let writer = &names[1];
    assert!(may(&admin, writer, &events, "INSERT").await);
    assert!(may(&admin, writer, &events, "SELECT").await);
    for privilege in ["UPDATE", "DELETE", "TRUNCATE"] {
        assert!(
            !may(&admin, writer, &events, privilege).await,
            "writer {privilege}"
        );
    }
    assert!(!may(&admin, writer, &checkpoints, "INSERT").await);
    let projector = &names[2];
    assert!(may(&admin, projector, &events, "SELECT").await);
    assert!(!may(&admin, projector, &events, "INSERT").await);
    assert!(may(&admin, projector, &checkpoints, "UPDATE").await);
    let reader = &names[3];
    assert!(
        !may(&admin, reader, &events, "SELECT").await,
        "not the events' payloads"
    );
    assert!(may(&admin, reader, &checkpoints, "SELECT").await);
    assert!(!may(&admin, reader, &checkpoints, "UPDATE").await);
    let owner: String = sqlx::query_scalar(
        "SELECT tableowner::text FROM pg_tables WHERE schemaname = $1 AND tablename = 'chronicle_events'",
    )
    .bind(&schema)
    .fetch_one(&admin)
    .await
    .expect("the owner");
    assert_eq!(&owner, &names[0]);

    sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&admin)
        .await
        .expect("drop the schema");
    for name in &names {
        sqlx::raw_sql(&format!("DROP OWNED BY \"{name}\"; DROP ROLE \"{name}\""))
            .execute(&admin)
            .await
            .unwrap_or_else(|error| panic!("drop role {name}: {error}"));
    }
}
