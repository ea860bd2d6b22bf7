//! `etcdkit`, the command line of the etcdkit toolkit: etcdctl's everyday commands
//! (`get`, `put`, `del`, `txn`, `compaction`, `endpoint health|status`) with the same
//! flags, the same output byte for byte, the same error messages and exit codes, so it
//! can replace etcdctl in scripts.
//!
//! Errors go to stderr as `Error: <message>`; the exit codes are etcdctl's (see
//! [`error::ExitCode`]).

mod args;
mod commands;
mod error;
mod go_compat;
mod output;
mod security;
mod txn_parse;

use clap::error::ErrorKind as ClapErrorKind;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use crate::args::Cli;
use crate::error::CliError;

fn main() -> std::process::ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => return clap_failure(&e),
    };
    let mut builder = if cli.command.wants_multi_thread() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let result = builder
        .enable_all()
        .build()
        .map_err(CliError::from)
        .and_then(|runtime| runtime.block_on(commands::run(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if let Some(detail) = &e.detail {
                eprintln!("{detail}");
            }
            // An empty message means the command already said what failed
            // (`endpoint status`).
            if !e.message.is_empty() {
                eprintln!("Error: {}", e.message);
            }
            std::process::ExitCode::from(e.code as u8)
        }
    }
}

/// Parses the command line. An empty `ETCDCTL_ENDPOINTS` counts as unset, as in etcdctl
/// (clap would take it as one empty endpoint).
fn parse() -> Result<Cli, clap::Error> {
    let matches = Cli::command().try_get_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let from_env = matches.value_source("endpoints") == Some(ValueSource::EnvVariable);
    if from_env && cli.global.endpoints.iter().all(String::is_empty) {
        cli.global.endpoints = vec![args::DEFAULT_ENDPOINT.to_owned()];
    }
    Ok(cli)
}

/// Help and version go to stdout with exit 0; a usage error exits 1, as a flag or
/// unknown-command error does in etcdctl (clap's own convention would be 2, which etcdctl
/// uses for connection failures).
fn clap_failure(e: &clap::Error) -> std::process::ExitCode {
    match e.kind() {
        // etcdctl prints its help when no command is given, and exits 0.
        ClapErrorKind::DisplayHelp
        | ClapErrorKind::DisplayVersion
        | ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // (clap would print the last kind to stderr, as an error.)
            print!("{}", e.render());
            std::process::ExitCode::SUCCESS
        }
        _ => {
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprint!("Error: {text}");
            std::process::ExitCode::from(error::ExitCode::Error as u8)
        }
    }
}
