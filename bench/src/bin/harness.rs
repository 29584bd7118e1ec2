//! The benchmark harness: `cargo run --release -p chronicle-bench --bin harness -- --help`.
//!
//! Prints the machine and one markdown table to stdout, progress to stderr.

use std::process::ExitCode;

use chronicle_bench::{run, Config, USAGE};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("harness: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("harness: warning: a debug build; run with --release for meaningful figures");
    }
    match run(&config).await {
        Ok(report) => {
            println!("{}", report.to_markdown());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("harness: {error}");
            ExitCode::FAILURE
        }
    }
}
