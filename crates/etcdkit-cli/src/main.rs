//! `etcdkit`, the command line of the etcdkit toolkit: etcdctl's everyday commands
//! (`get`, `put`, `del`, `txn`, `compaction`, `endpoint health|status`) with the same
//! flags, the same output byte for byte, the same error messages and exit codes, so it
//! can replace etcdctl in scripts.
//!
//! Errors go to stderr as `Error: <message>`; the exit codes are etcdctl's (see
//! [`error::ExitCode`]).

mod args;
mod bbolt;
mod commands;
mod discovery;
mod env;
mod error;
mod go_compat;
mod output;
mod security;
mod txn_parse;

use std::ffi::OsString;

use clap::error::ErrorKind as ClapErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::args::Cli;
use crate::error::CliError;

fn main() -> std::process::ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = match parse(&argv) {
        Ok(cli) => cli,
        Err(ParseFailure::Clap(e)) => return clap_failure(&e),
        Err(ParseFailure::Cli(e)) => return report(&e),
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
        Err(e) => report(&e),
    }
}

/// Prints a failure on stderr as etcdctl does and gives its exit code.
///
/// A stderr nobody reads (a closed pipe) loses the text, not the exit code: `eprintln!`
/// would panic there and exit 101.
fn report(e: &CliError) -> std::process::ExitCode {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    if let Some(detail) = &e.detail {
        let _ = writeln!(stderr, "{detail}");
    }
    // An empty message means the command already said what failed
    // (`endpoint status`).
    if !e.message.is_empty() {
        let _ = writeln!(stderr, "Error: {}", e.message);
    }
    std::process::ExitCode::from(e.code as u8)
}

/// Why the command line could not be parsed.
enum ParseFailure {
    /// clap's own errors (and help), printed as etcdctl prints usage errors.
    Clap(clap::Error),
    /// A conflict between a flag and its environment variable.
    Cli(CliError),
}

impl From<clap::Error> for ParseFailure {
    fn from(e: clap::Error) -> Self {
        ParseFailure::Clap(e)
    }
}

/// Parses the command line, then adds the global flags given as `ETCDCTL_*` variables
/// (see [`env`]) for the commands that read them, as etcdctl does for the commands that
/// connect.
fn parse(argv: &[OsString]) -> Result<Cli, ParseFailure> {
    let command = Cli::command();
    let matches = command.clone().try_get_matches_from(argv)?;
    let cli = Cli::from_arg_matches(&matches)?;
    if !cli.command.reads_etcdctl_env() {
        return Ok(cli);
    }
    let flags: Vec<env::Flag> = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| {
            Some(env::Flag {
                id: a.get_id().to_string(),
                long: a.get_long()?.to_owned(),
            })
        })
        .filter(|f| f.long != "help" && f.long != "version")
        .collect();
    let from_env =
        env::collect(&flags, &matches, std::env::vars_os()).map_err(ParseFailure::Cli)?;
    for name_value in &from_env.unrecognized {
        eprintln!("{}", env::unrecognized_warning(name_value));
    }
    let mut accepted = Vec::new();
    for candidate in from_env.candidates {
        accepted.push(candidate);
        // etcdctl ignores a variable whose value does not parse.
        if Cli::command()
            .try_get_matches_from(env::with_flags(argv, &accepted))
            .is_err()
        {
            accepted.pop();
        }
    }
    let matches = Cli::command().try_get_matches_from(env::with_flags(argv, &accepted))?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.global.keepalive_given = (
        given(&matches, "keepalive_time"),
        given(&matches, "keepalive_timeout"),
    );
    Ok(cli)
}

/// Whether a flag was set by the user (on the command line or through the environment).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches
        .value_source(id)
        .is_some_and(|s| s != ValueSource::DefaultValue)
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
            // (clap would print the last kind to stderr, as an error.) Written, not
            // `print!`ed: a reader that goes away early (`etcdkit --help | head`) is no
            // reason to panic.
            use std::io::Write as _;
            let _ = write!(std::io::stdout().lock(), "{}", e.render());
            std::process::ExitCode::SUCCESS
        }
        // cobra's wording, with this program's name.
        ClapErrorKind::InvalidSubcommand => {
            let name = e
                .get(clap::error::ContextKind::InvalidSubcommand)
                .map(ToString::to_string)
                .unwrap_or_default();
            eprintln!("Error: unknown command \"{name}\" for \"etcdkit\"");
            eprintln!("Run 'etcdkit --help' for usage.");
            std::process::ExitCode::from(error::ExitCode::Error as u8)
        }
        _ => {
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprint!("Error: {text}");
            std::process::ExitCode::from(error::ExitCode::Error as u8)
        }
    }
}
