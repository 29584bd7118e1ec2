//! `chronicle`: the operator's command line of a Chronicle event store. `chronicle --help` lists
//! the commands; the library (`chronicle_cli`) has them.

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = chronicle_cli::Cli::parse();
    let mut out = std::io::stdout().lock();
    match chronicle_cli::run(&cli, &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, never a backtrace: what went wrong and, where it helps, what to do.
            eprintln!("chronicle: {error}");
            ExitCode::FAILURE
        }
    }
}
