//! The `chronicle` command line and an application's embedded one (`AppCli`), parsed by clap from
//! any arguments.
//!
//! Input: the arguments after the program's name, separated by NUL bytes.
//!
//! Checked beyond "no panic" (clap's own debug assertions on the command's definition run too,
//! the fuzz build keeps them): a refusal renders a message; what parses parses again the same;
//! every standalone command line the `chronicle` binary takes is also one an application's
//! binary takes, with the same meaning; `migrate`'s role names make a `chronicle::Roles`.

#![no_main]

use chronicle_cli::{AppCli, AppCommand, Cli};
use clap::Parser as _;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let args: Vec<String> = std::iter::once("chronicle".to_owned())
        .chain(
            data.split(|byte| *byte == 0)
                .take(24)
                .map(|arg| String::from_utf8_lossy(arg).into_owned()),
        )
        .collect();
    let standalone = parsed(Cli::try_parse_from(&args));
    let embedded = parsed(AppCli::try_parse_from(&args));
    assert_eq!(parsed(Cli::try_parse_from(&args)), standalone);
    if let Ok(cli) = Cli::try_parse_from(&args) {
        if let chronicle_cli::Command::Migrate { roles, .. } = &cli.command {
            // The role names go on to `chronicle::Roles`, which checks them when it runs.
            let _ = format!("{:?}", roles.roles());
        }
        let app = AppCli::try_parse_from(&args).expect("AppCli takes chronicle's commands");
        assert_eq!(format!("{:?}", app.global), format!("{:?}", cli.global));
        match app.command {
            AppCommand::Chronicle(command) => {
                assert_eq!(format!("{command:?}"), format!("{:?}", cli.command))
            }
            other => panic!("{args:?} is a chronicle command, the application read {other:?}"),
        }
    }
    let _ = embedded;
});

/// What a parse gave, comparable: the value's debug text, or the error's kind and message.
fn parsed<T: std::fmt::Debug>(
    result: Result<T, clap::Error>,
) -> Result<String, (clap::error::ErrorKind, String)> {
    match result {
        Ok(value) => Ok(format!("{value:?}")),
        Err(error) => {
            let message = error.render().to_string();
            assert!(!message.is_empty(), "an empty message for {:?}", error.kind());
            Err((error.kind(), message))
        }
    }
}
