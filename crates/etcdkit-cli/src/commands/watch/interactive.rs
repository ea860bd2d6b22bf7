//! `watch -i`: reads commands from stdin, one per line, as etcdctl does:
//!
//! - `watch [--prefix] [--rev N] [--prev-kv] KEY [RANGE_END] [-- COMMAND ARGS...]` starts
//!   one more watch, printed alongside the others;
//! - `progress` asks the server for a progress notification on the watch stream;
//! - anything else is reported on stderr and skipped.
//!
//! The end of the input ends the command (exit 3, as etcdctl's failed read); a line whose
//! flags do not parse ends it with exit 128.

use std::ffi::OsString;

use bytes::Bytes;
use std::io::BufRead;
use tokio::sync::mpsc;

use super::{BAD_ARGS_CONFLICT_ENV, BAD_ARGS_NUM, BAD_ARGS_SEPARATOR, EnvKeys, Request, print};
use crate::args::GlobalArgs;
use crate::commands::{bytes_arg, connect, printer_for};
use crate::error::CliError;
use crate::go_compat;
use crate::output::Supported;
use crate::txn_parse::argify;

pub async fn run(
    global: &GlobalArgs,
    progress_notify: bool,
    env: &EnvKeys,
) -> Result<(), CliError> {
    let client = connect(global).await?;
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let mut input = lines();
    // A watch's command failing ends everything, as in etcdctl.
    let (failures, mut failed) = mpsc::unbounded_channel::<CliError>();
    // The running watches' progress request channels, oldest first.
    let mut watches: Vec<mpsc::UnboundedSender<()>> = Vec::new();
    loop {
        let read = tokio::select! {
            read = input.recv() => read,
            Some(e) = failed.recv() => return Err(e),
        };
        let raw = match read {
            Some(Ok(raw)) => raw,
            None => return Err(read_error("EOF")),
            Some(Err(e)) => return Err(read_error(&e.to_string())),
        };
        let line = String::from_utf8_lossy(&raw).into_owned();
        let args = argify(&raw).unwrap_or_default();
        match args.first().map(Vec::as_slice) {
            None => eprintln!("Invalid command: {line} (watch and progress supported)"),
            Some(b"watch") => {
                if args.len() < 2 && env.key.is_none() {
                    eprintln!("Invalid command {line} (command type or key is not provided)");
                    continue;
                }
                let (request, command) = parse_line(&args[1..], env, progress_notify)?;
                if let Err(e) = request.check() {
                    eprintln!("Invalid command {line} ({})", e.message);
                    continue;
                }
                let (progress, requests) = mpsc::unbounded_channel();
                watches.push(progress);
                let client = client.clone();
                let failures = failures.clone();
                tokio::spawn(async move {
                    let result = match request.start(&client).await {
                        Ok(w) => print::events(w, &printer, &command, Some(requests)).await,
                        Err(e) => {
                            print::canceled(&e);
                            Ok(())
                        }
                    };
                    if let Err(e) = result {
                        let _ = failures.send(e);
                    }
                });
            }
            Some(b"progress") => {
                // One request on the shared stream notifies every watch on it.
                watches.retain(|w| !w.is_closed());
                if let Some(first) = watches.first() {
                    let _ = first.send(());
                }
            }
            Some(_) => eprintln!("Invalid command {line} (only support watch)"),
        }
    }
}

/// The lines of stdin without their newline, read on a thread of their own (stdin
/// cannot be read asynchronously). A last line without its newline is dropped, as Go's
/// `ReadString` reports it with the end of the input.
fn lines() -> mpsc::UnboundedReceiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(_) if line.ends_with(b"\n") => {
                    line.pop();
                    if tx.send(Ok(line)).is_err() {
                        return;
                    }
                }
                Ok(_) => return,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

fn read_error(why: &str) -> CliError {
    CliError::invalid_input(format!("error reading watch request line: {why}"))
}

/// Reads one `watch` line's arguments (after `watch`) as etcdctl's flag set would: the
/// flags anywhere before `--`, the keys, and the command after `--`.
///
/// # Errors
///
/// A flag that does not parse, no key, a key next to `ETCDCTL_WATCH_KEY`, or `--` with
/// nothing after it: pflag's or etcdctl's message, exit 128.
fn parse_line(
    args: &[Vec<u8>],
    env: &EnvKeys,
    progress_notify: bool,
) -> Result<(Request, Vec<OsString>), CliError> {
    let (before, command) = match args.iter().position(|a| a == b"--") {
        Some(i) if i + 1 == args.len() => return Err(CliError::bad_args(BAD_ARGS_SEPARATOR)),
        Some(i) => (&args[..i], args[i + 1..].to_vec()),
        None => (args, Vec::new()),
    };
    let mut request = Request {
        progress_notify,
        ..Request::default()
    };
    let mut keys = Vec::new();
    let mut i = 0;
    while i < before.len() {
        let arg = String::from_utf8_lossy(&before[i]).into_owned();
        i += 1;
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            keys.push(Bytes::from(before[i - 1].clone()));
            continue;
        };
        if flag.is_empty() || arg == "-" {
            keys.push(Bytes::from(before[i - 1].clone()));
            continue;
        }
        let long = arg.starts_with("--");
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        let name = match (long, name) {
            (false, "i") => "interactive",
            (false, other) => {
                let c = other.chars().next().unwrap_or('-');
                return Err(CliError::bad_args(format!(
                    "unknown shorthand flag: '{c}' in -{other}"
                )));
            }
            (true, n) => n,
        };
        let boolean = |value: Option<String>| -> Result<bool, CliError> {
            match value {
                None => Ok(true),
                Some(v) => go_compat::parse_bool(&v).map_err(|e| invalid(&v, name, &e)),
            }
        };
        match name {
            "prefix" => request.prefix = boolean(value)?,
            "prev-kv" => request.prev_kv = boolean(value)?,
            // Read but not used: etcdctl keeps the command line's setting.
            "progress-notify" | "interactive" => {
                boolean(value)?;
            }
            "rev" => {
                let value = match value {
                    Some(v) => v,
                    None if i < before.len() => {
                        i += 1;
                        String::from_utf8_lossy(&before[i - 1]).into_owned()
                    }
                    None => {
                        return Err(CliError::bad_args("flag needs an argument: --rev"));
                    }
                };
                request.rev =
                    go_compat::parse_int(&value, 10).map_err(|e| invalid(&value, "rev", &e))?;
            }
            other => return Err(CliError::bad_args(format!("unknown flag: --{other}"))),
        }
    }
    if command.is_empty() && keys.is_empty() && env.key.is_none() {
        return Err(CliError::bad_args(BAD_ARGS_NUM));
    }
    if command.is_empty() && !keys.is_empty() && env.key.is_some() {
        return Err(CliError::bad_args(BAD_ARGS_CONFLICT_ENV));
    }
    request.keys = env.keys(keys);
    Ok((request, command.into_iter().map(bytes_arg).collect()))
}

/// pflag's message for a flag value that does not parse.
fn invalid(value: &str, flag: &str, why: &str) -> CliError {
    CliError::bad_args(format!(
        "invalid argument {} for \"--{flag}\" flag: {why}",
        go_compat::quote(value.as_bytes())
    ))
}
