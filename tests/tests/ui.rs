//! Compile-time checks of the macros: every supported form compiles (`ui/pass`), and every misuse
//! is rejected with a message at the offending token that names the rule and the fix (`ui/fail`).
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p chronicle-tests --test ui`
//! and read every changed `.stderr` before committing it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
