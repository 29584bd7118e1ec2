//! Compile-time checks of `#[projection]` and `#[derive(Query)]`: every supported form compiles
//! (`ui/projection/pass`), and every misuse is rejected with a message at the offending token that
//! names the rule and the fix (`ui/projection/fail`).
//!
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p chronicle-tests --test ui_projection` and read every changed
//! `.stderr` before committing it.

#[test]
fn ui_projection() {
    let t = trybuild::TestCases::new();
    t.pass("ui/projection/pass/*.rs");
    t.compile_fail("ui/projection/fail/*.rs");
}
