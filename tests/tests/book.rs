//! The book's included code must exist: every `{{#include path:anchor}}` resolves to a file of the
//! workspace (compiled by its tests) with that anchor, and every chapter is in the summary.

use std::fs;
use std::path::{Path, PathBuf};

// The book's listings that are not examples' sources, compiled and run here.
#[path = "../../book/listings/balances.rs"]
mod balances;
#[allow(dead_code)]
#[path = "../../book/listings/compiler_says_no.rs"]
mod compiler_says_no;
#[path = "../../book/listings/evolving_events.rs"]
mod evolving_events;
#[path = "../../book/listings/harness.rs"]
mod harness;
#[path = "../../book/listings/inline.rs"]
mod inline;
#[allow(dead_code)]
#[path = "../../book/listings/reference.rs"]
mod reference;
#[path = "../../book/listings/services.rs"]
mod services;
#[path = "../../book/listings/time_travel.rs"]
mod time_travel;
#[path = "../../book/listings/write_side.rs"]
mod write_side;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
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

#[test]
fn every_include_resolves_to_an_anchored_region() {
    let book = Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src");
    let mut checked = 0;
    for entry in fs::read_dir(&book).unwrap() {
        let chapter = entry.unwrap().path();
        if chapter.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = fs::read_to_string(&chapter).unwrap();
        for include in text.split("{{#include ").skip(1) {
            let target = include.split("}}").next().unwrap();
            let (file, anchor) = target.split_once(':').unwrap_or((target, ""));
            let source = fs::read_to_string(book.join(file))
                .unwrap_or_else(|e| panic!("{}: cannot read {file}: {e}", chapter.display()));
            if !anchor.is_empty() {
                assert!(
                    source.contains(&format!("ANCHOR: {anchor}"))
                        && source.contains(&format!("ANCHOR_END: {anchor}")),
                    "{}: {file} has no anchor `{anchor}`",
                    chapter.display()
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "expected the book to include compiled code, found {checked} includes"
    );
}

#[test]
fn every_chapter_is_in_the_summary() {
    let book = Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src");
    let summary = fs::read_to_string(book.join("SUMMARY.md")).unwrap();
    for entry in fs::read_dir(&book).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") && name != "SUMMARY.md" {
            assert!(
                summary.contains(&format!("({name})")),
                "{name} is not linked from SUMMARY.md"
            );
        }
    }
}

/// "When the compiler says no" shows compiler output as users see it: every `text` block that is
/// compiler output must still be what the compile-fail suite (`tests/ui`) expects, so a changed
/// message fails here until the chapter is updated.
#[test]
fn every_error_shown_in_the_book_is_what_the_compiler_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut expected = Vec::new();
    for suite in ["ui/fail", "ui/projection/fail"] {
        for entry in fs::read_dir(root.join(suite)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "stderr") {
                expected.push(fs::read_to_string(path).unwrap());
            }
        }
    }
    let chapter = fs::read_to_string(root.join("../book/src/compiler-says-no.md")).unwrap();
    let mut shown = 0;
    for block in chapter.split("```text\n").skip(1) {
        let block = block.split("\n```").next().unwrap();
        if !block.starts_with("error") {
            continue;
        }
        assert!(
            expected.iter().any(|stderr| stderr.contains(block)),
            "compiler-says-no.md shows output that no tests/ui .stderr file contains; copy it again \
             from the .stderr file:\n{block}"
        );
        shown += 1;
    }
    assert!(
        shown >= 20,
        "expected the chapter to show at least 20 errors, found {shown}"
    );
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
