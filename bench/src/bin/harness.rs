//! The benchmark harness: `cargo run --release -p chronicle-bench --bin harness -- --help`.
//!
//! Prints the machine and one markdown table to stdout, progress to stderr.

use std::process::ExitCode;

use chronicle_bench::{partition_worker, run, Config, USAGE};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The scale-out scenarios start the harness binary again as their worker processes.
    if args.first().map(String::as_str) == Some("partition-worker") {
        return match partition_worker().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("partition-worker: {error}");
                ExitCode::FAILURE
            }
        };
    }
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
