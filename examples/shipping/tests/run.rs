//! The example's one command, run as a user runs it, over each broker: the shipping service
//! starts the orders service, builds its view from the broker alone, and says so.

use std::process::Command;

fn run_over(broker: &str) -> String {
    let directory = std::env::temp_dir().join(format!("chronicle-shipping-{}-{broker}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a working directory");
    let output = Command::new(env!("CARGO_BIN_EXE_shipping"))
        .arg(broker)
        .current_dir(&directory)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&directory);
    assert!(
        output.status.success(),
        "the example failed over {broker}:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn assert_shipped_everything(stdout: &str) {
    for line in [
        "[shipping] subscribed to",
        "[orders]   Ada opened order-",
        "handed to DHL",
        "[shipping] view has order-",
        "[shipping] items waiting to be packed: ",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    let applied = stdout
        .lines()
        .find_map(|line| line.strip_prefix("[shipping] applied "))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"));
    // At least this run's 8 events: a new view over JetStream also applies what earlier runs
    // published (the stream keeps them).
    let count: u64 = applied
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{applied}"));
    assert!(count >= 8, "{applied}");
}

#[test]
fn over_rabbitmq() {
    assert_shipped_everything(&run_over("rabbitmq"));
}

#[test]
fn over_nats() {
    assert_shipped_everything(&run_over("nats"));
}
