//! etcdctl's environment variables: every global flag may also be given as
//! `ETCDCTL_<FLAG>` (the long name in upper case, `-` as `_`: `--dial-timeout` is
//! `ETCDCTL_DIAL_TIMEOUT`), read as etcdctl 3.6 reads them:
//!
//! - an empty variable sets nothing (and is reported as unrecognized, as etcdctl does);
//! - a flag given both on the command line and in the environment is an error (exit 1),
//!   even when the variable is empty: etcdctl refuses to guess which one was meant;
//! - a value that does not parse is ignored (etcdctl drops that error), so the flag keeps
//!   its default;
//! - any other `ETCDCTL_*` variable is reported as unrecognized on stderr and otherwise
//!   ignored, except `ETCDCTL_WATCH_KEY` and `ETCDCTL_WATCH_RANGE_END`, which `watch`
//!   reads itself.
//!
//! The variables are applied by putting `--flag=value` on the command line before the
//! command and parsing again, so a value goes through exactly the flag's own parser.

use std::ffi::OsString;

use clap::ArgMatches;
use clap::parser::ValueSource;

use crate::error::CliError;

/// The prefix of every variable etcdctl reads.
const PREFIX: &str = "ETCDCTL_";

/// Variables `watch` reads itself; they are not flags, and not unrecognized either.
pub const WATCH_KEY: &str = "ETCDCTL_WATCH_KEY";
pub const WATCH_RANGE_END: &str = "ETCDCTL_WATCH_RANGE_END";

/// The variable of a global flag: `dial-timeout` is `ETCDCTL_DIAL_TIMEOUT`.
pub fn variable(long: &str) -> String {
    format!("{PREFIX}{}", long.to_ascii_uppercase().replace('-', "_"))
}

/// A global flag: its clap id and its long name.
pub struct Flag {
    pub id: String,
    pub long: String,
}

/// What the environment adds to a command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FromEnv {
    /// `--flag=value` arguments to try, one per variable that names a global flag not
    /// given on the command line.
    pub candidates: Vec<OsString>,
    /// `NAME=value` of each `ETCDCTL_*` variable that names no flag.
    pub unrecognized: Vec<String>,
}

/// Sorts the `ETCDCTL_*` variables among `vars` against the global `flags` and what the
/// command line set (`matches`).
///
/// # Errors
///
/// A variable whose flag was also given on the command line: etcdctl's message, exit 1.
pub fn collect(
    flags: &[Flag],
    matches: &ArgMatches,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<FromEnv, CliError> {
    let mut out = FromEnv::default();
    let mut vars: Vec<(OsString, OsString)> = vars
        .into_iter()
        .filter(|(name, _)| name.to_string_lossy().starts_with(PREFIX))
        .collect();
    // A stable order, so that what is reported does not depend on the environment's.
    vars.sort();
    for (name, value) in vars {
        let name_text = name.to_string_lossy().into_owned();
        if name_text == WATCH_KEY || name_text == WATCH_RANGE_END {
            continue;
        }
        let Some(flag) = flags.iter().find(|f| variable(&f.long) == name_text) else {
            out.unrecognized
                .push(format!("{name_text}={}", value.to_string_lossy()));
            continue;
        };
        // Checked before emptiness: etcdctl refuses even an empty variable next to its
        // flag.
        if matches.value_source(&flag.id) == Some(ValueSource::CommandLine) {
            return Err(CliError::error(format!(
                "conflicting environment variable {} is shadowed by corresponding \
                 command-line flag (either unset environment variable or disable flag)",
                crate::go_compat::quote(name_text.as_bytes())
            )));
        }
        // An empty variable sets nothing, so etcdctl counts it as not used.
        if value.is_empty() {
            out.unrecognized.push(format!("{name_text}="));
            continue;
        }
        let mut arg = OsString::from(format!("--{}=", flag.long));
        arg.push(&value);
        out.candidates.push(arg);
    }
    Ok(out)
}

/// The command line with these flags put right after the program name.
pub fn with_flags(argv: &[OsString], flags: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(argv.len() + flags.len());
    out.extend(argv.first().cloned());
    out.extend(flags.iter().cloned());
    out.extend(argv.iter().skip(1).cloned());
    out
}

/// The warning etcdctl logs for a variable it does not know (as a JSON log line, as
/// etcdctl's logger writes it, without the timestamp and caller).
pub fn unrecognized_warning(name_value: &str) -> String {
    let mut line = String::from(
        r#"{"level":"warn","msg":"unrecognized environment variable","environment-variable":"#,
    );
    line.push_str(&serde_json::Value::String(name_value.to_owned()).to_string());
    line.push('}');
    line
}
