//! The book's listings are compiled, and say what the code does.
//!
//! - Every Rust listing of `book/src` is either a doc test (a plain `rust` block: the chapters
//!   are doc comments of `tests/src/lib.rs`) or a `rust,ignore` block made only of
//!   `{{#include file:anchor}}` lines, whose file is compiled by the workspace: an example's
//!   source, or one of the `book/listings` files, which are modules of this test and run here.
//! - Compiler output shown in the book is what the compile-fail suite (`tests/ui`) expects, and
//!   other output and SQL shown there are checked by tests of their own.
//!
//! `book/check-as-a-user.sh` checks the rest: that every complete example of the rendered book
//! compiles in a crate of its own with only the quickstart's dependencies.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../../book/listings/admin.rs"]
mod admin;
#[path = "../../book/listings/balances.rs"]
mod balances;
#[path = "../../book/listings/blue_green.rs"]
mod blue_green;
#[allow(dead_code)]
#[path = "../../book/listings/compiler_says_no.rs"]
mod compiler_says_no;
#[path = "../../book/listings/cross_aggregate.rs"]
mod cross_aggregate;
#[path = "../../book/listings/event_schema.rs"]
mod event_schema;
#[path = "../../book/listings/evolving_events.rs"]
mod evolving_events;
#[path = "../../book/listings/forgetting.rs"]
mod forgetting;
#[path = "../../book/listings/harness.rs"]
mod harness;
#[path = "../../book/listings/inline.rs"]
mod inline;
#[path = "../../book/listings/leaderboard.rs"]
mod leaderboard;
#[path = "../../book/listings/mariadb.rs"]
mod mariadb;
// Its `trace_to_stdout` is what a service's `main` calls; the test sets the subscriber on its own
// thread instead, beside the other tests of this binary.
#[allow(dead_code)]
#[path = "../../book/listings/observability.rs"]
mod observability;
#[path = "../../book/listings/portable.rs"]
mod portable;
#[path = "../../book/listings/process_managers.rs"]
mod process_managers;
#[path = "../../book/listings/projection_test.rs"]
mod projection_test;
#[allow(dead_code)]
#[path = "../../book/listings/reference.rs"]
mod reference;
#[path = "../../book/listings/relay.rs"]
mod relay;
// `set_up_roles` and `pool_as` are a deployment's; `backends/postgres/roles.rs` runs the same
// calls with throwaway role names.
#[allow(dead_code)]
#[path = "../../book/listings/roles.rs"]
mod roles;
#[path = "../../book/listings/scaling.rs"]
mod scaling;
#[path = "../../book/listings/services.rs"]
mod services;
#[path = "../../book/listings/tenants.rs"]
mod tenants;
#[path = "../../book/listings/time_travel.rs"]
mod time_travel;
#[path = "../../book/listings/write_side.rs"]
mod write_side;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chapters() -> Vec<(String, String)> {
    let mut chapters: Vec<_> = fs::read_dir(root().join("book/src"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md") && !path.ends_with("SUMMARY.md"))
        .map(|path| {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (name, fs::read_to_string(&path).unwrap())
        })
        .collect();
    chapters.sort();
    chapters
}

/// The text of chapter `name`.
pub fn chapter(name: &str) -> String {
    fs::read_to_string(root().join("book/src").join(name)).unwrap()
}

/// The fenced blocks of a chapter: (info string, body).
fn blocks(chapter: &str) -> impl Iterator<Item = (&str, &str)> {
    chapter.split("\n```").skip(1).step_by(2).map(|block| {
        let (info, body) = block.split_once('\n').unwrap_or((block, ""));
        (info.trim(), body)
    })
}

/// The bodies of a chapter's `text` blocks, without their last newline.
pub fn text_blocks(chapter: &str) -> impl Iterator<Item = &str> {
    blocks(chapter)
        .filter(|(info, _)| *info == "text")
        .map(|(_, body)| body.strip_suffix('\n').unwrap_or(body))
}

/// What a `{{#include path:anchor}}` line names, if the line is one.
fn include(line: &str) -> Option<(&str, &str)> {
    let target = line.trim().strip_prefix("{{#include ")?.strip_suffix("}}")?;
    Some(target.split_once(':').unwrap_or((target, "")))
}

#[test]
fn every_rust_listing_is_a_doc_test_or_an_include_of_compiled_code() {
    let this_test = fs::read_to_string(root().join("tests/tests/book.rs")).unwrap();
    let mut includes = 0;
    for (name, text) in chapters() {
        for (info, body) in blocks(&text) {
            match info {
                "rust" => {}
                "rust,ignore" => {
                    for line in body.lines().filter(|line| !line.trim().is_empty()) {
                        let (file, anchor) = include(line).unwrap_or_else(|| {
                            panic!(
                                "{name}: a `rust,ignore` listing holds only {{{{#include file:anchor}}}} lines of \
                                 compiled code; make this one a doc test (a plain `rust` block) or include it:\n{body}"
                            )
                        });
                        let path = root().join("book/src").join(file);
                        let source = fs::read_to_string(&path)
                            .unwrap_or_else(|e| panic!("{name}: cannot read {file}: {e}"));
                        assert!(
                            !anchor.is_empty()
                                && source.contains(&format!("ANCHOR: {anchor}\n"))
                                && source.contains(&format!("ANCHOR_END: {anchor}\n")),
                            "{name}: {file} has no anchor `{anchor}`"
                        );
                        let relative = file.trim_start_matches("../");
                        let compiled = if let Some(listing) = relative.strip_prefix("listings/") {
                            this_test.contains(&format!("\"../../book/listings/{listing}\""))
                        } else {
                            relative.starts_with("examples/") && relative.contains("/src/")
                        };
                        assert!(
                            compiled,
                            "{name}: {file} is not compiled by the workspace: include an example's \
                             source or a book/listings file declared as a module of tests/tests/book.rs"
                        );
                        includes += 1;
                    }
                }
                "text" | "toml" | "sh" | "sql" => {}
                other => {
                    panic!("{name}: a listing of kind `{other}`; Rust listings are `rust` or `rust,ignore`")
                }
            }
        }
    }
    assert!(
        includes >= 20,
        "expected the book to include compiled code, found {includes} includes"
    );
}

#[test]
fn every_chapter_is_in_the_summary_and_doc_tested() {
    let summary = fs::read_to_string(root().join("book/src/SUMMARY.md")).unwrap();
    let doc_tests = fs::read_to_string(root().join("tests/src/lib.rs")).unwrap();
    for (name, _) in chapters() {
        assert!(
            summary.contains(&format!("({name})")),
            "{name} is not linked from SUMMARY.md"
        );
        assert!(
            doc_tests.contains(&format!("include_str!(\"../../book/src/{name}\")")),
            "{name} is not a doc comment of tests/src/lib.rs, so its Rust listings are not doc tests"
        );
    }
}

/// Compiler output is shown as users see it: every `text` block that is compiler output must
/// still be what the compile-fail suite (`tests/ui`) expects, so a changed message fails here
/// until the chapter is updated. The other `text` blocks are the output of programs, each
/// checked elsewhere or regenerated by running the example it names.
#[test]
fn every_error_shown_in_the_book_is_what_the_compiler_prints() {
    let mut expected = Vec::new();
    for suite in ["tests/ui/fail", "tests/ui/projection/fail"] {
        for entry in fs::read_dir(root().join(suite)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "stderr") {
                expected.push(fs::read_to_string(path).unwrap());
            }
        }
    }
    let mut shown = 0;
    let mut program_output = Vec::new();
    for (name, text) in chapters() {
        for block in text_blocks(&text) {
            if block.starts_with("error") {
                assert!(
                    expected.iter().any(|stderr| stderr.contains(block)),
                    "{name} shows compiler output that no tests/ui .stderr file contains; copy it again \
                     from the .stderr file:\n{block}"
                );
                shown += 1;
            } else {
                program_output.push((name.clone(), block.lines().next().unwrap_or_default().to_owned()));
            }
        }
    }
    assert!(
        shown >= 21,
        "expected the book to show at least 21 errors, found {shown}"
    );
    let program_output: Vec<_> = program_output
        .iter()
        .map(|(n, l)| (n.as_str(), l.as_str()))
        .collect();
    assert_eq!(
        program_output,
        [
            // `cargo run -p bank`'s history of an account.
            ("audit-log.md", "history of acc-452b7101:"),
            // Checked by `evolving_events::the_quoted_message_is_what_a_newer_row_gives`.
            (
                "evolving-events.md",
                "cannot read `lab.Measured` version 3 at position 2 (stream `lab.Probe-p-1` version 2): \
                 `my_app::Measured` reads versions 1 to 2 (the row was written by a newer version of the program)"
            ),
            // `chronicle status` and `chronicle trace` on the CLI test's log: their first lines'
            // shape is checked by `cli/tests/commands.rs`, the ids and times are of that run.
            (
                "operations.md",
                "log: postgres://postgres@127.0.0.1:5432/bank (schema `public`) at position 4 (4 events), last event 2026-12-02T13:35:41.268Z"
            ),
            ("operations.md", "correlation 92e90a72-45cb-4459-b39a-5d8e9cf76cba: 2 events of 2 commands"),
        ],
        "a `text` block is compiler output or a program's output that a test checks"
    );
}

/// The evolving-events chapter quotes the upcasting errors in a table: each is (the start of) a
/// message of the compile-fail suite.
#[test]
fn the_upcasting_errors_quoted_in_a_table_are_the_compilers() {
    let stderr: String = fs::read_dir(root().join("tests/ui/fail"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "stderr"))
        .map(|path| fs::read_to_string(path).unwrap())
        .collect();
    let chapter = chapter("evolving-events.md");
    let table = chapter
        .split_once("The compiler checks the chain:")
        .expect("the chapter's table of upcasting errors")
        .1;
    let quoted: Vec<&str> = table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.split("| `` ").nth(1)?.split(" `` |").next())
        .collect();
    assert_eq!(quoted.len(), 4, "the table quotes four errors");
    for message in quoted {
        assert!(
            stderr.contains(message),
            "no tests/ui/fail .stderr file contains `{message}`"
        );
    }
}

/// The audit log's SQL runs as printed, on a Postgres store's schema.
#[tokio::test]
async fn the_audit_log_sql_runs() {
    use bank::{Deposit, OpenAccount};
    use chronicle::sqlx::Row as _;
    use chronicle::{Chronicle, CommandContext};

    let chapter = chapter("audit-log.md");
    let sql: Vec<&str> = blocks(&chapter)
        .filter(|(info, _)| *info == "sql")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(sql.len(), 1, "audit-log.md shows one SQL query");
    let correlation = sql[0]
        .split('\'')
        .find_map(|part| uuid::Uuid::parse_str(part).ok())
        .expect("the query names a correlation id");

    let store = chronicle_tests::support::postgres_store().await;
    let bank = Chronicle::new(store.clone());
    let open = OpenAccount {
        account_id: "a".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    };
    bank.execute(open).await.unwrap();
    let context = CommandContext::new()
        .correlation_id(correlation)
        .actor("teller-7");
    let deposit = Deposit {
        account_id: "a".into(),
        amount: 5,
    };
    bank.execute_with(deposit, context).await.unwrap();

    // The store's pool has the store's schema on its search_path, as a psql session would.
    let rows = chronicle::sqlx::query(sql[0])
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>("actor"), "teller-7");
}
