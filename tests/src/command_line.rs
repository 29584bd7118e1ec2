//! Running an operator's binary (`chronicle`, or an application's embedding its commands) and
//! reading what it printed: output on success, one line on standard error on failure.

use std::process::Output;

use serde_json::Value;

/// Runs the binary at `exe` with `args`, `DATABASE_URL` unset (every test names its database)
/// and a wide terminal for the tables.
pub fn run(exe: &str, args: &[&str]) -> Output {
    std::process::Command::new(exe)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("COLUMNS", "200")
        .output()
        .unwrap_or_else(|error| panic!("cannot run {exe}: {error}"))
}

/// What a successful run printed.
pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "the command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// What a successful run printed, as one JSON document.
pub fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).expect("JSON output")
}

/// A failure: a non-zero exit and one line on standard error, which holds `expected`, and no
/// panic.
pub fn fails_with(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(expected), "`{expected}` not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
