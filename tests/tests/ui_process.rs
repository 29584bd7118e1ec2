//! Compile-time checks of `#[process_manager]`: every supported form compiles
//! (`ui/process/pass`), and every misuse is rejected with a message at the offending token that
//! names the rule and the fix (`ui/process/fail`). The cases share `ui/process/domain.rs`.
//!
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p chronicle-tests --test ui_process` and read every changed
//! `.stderr` before committing it.

#[test]
fn ui_process() {
    let t = trybuild::TestCases::new();
    t.pass("ui/process/pass/*.rs");
    t.compile_fail("ui/process/fail/*.rs");
}
