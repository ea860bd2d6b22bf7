//! Printing one watch's responses as etcdctl does, and running the `-- COMMAND` of
//! `watch` once per event with the event in its environment.

use std::ffi::OsString;

use etcdkit::watch::{Event, WatchResponse, Watcher};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::commands::lock::{signal_name, spawn_error};
use crate::commands::{arg_bytes, write_stdout};
use crate::error::{CliError, etcd_message};
use crate::go_compat;
use crate::output::Printer;

/// Prints every response of `watcher` until the server cancels it (then says so on
/// stderr, as etcdctl does, and returns). With a command, runs it after printing each
/// response, once per event, and waits for it. `progress` asks for a progress
/// notification on the watch's stream each time it receives (`watch -i`'s `progress`).
///
/// # Errors
///
/// A command that fails or cannot start: etcdctl's message, exit 1; stdout failing.
pub async fn events(
    mut watcher: Watcher,
    printer: &Printer,
    command: &[OsString],
    mut progress: Option<mpsc::UnboundedReceiver<()>>,
) -> Result<(), CliError> {
    loop {
        let item = match progress.as_mut() {
            Some(requests) => tokio::select! {
                item = watcher.next() => item,
                request = requests.recv() => {
                    match request {
                        // Nothing is asked once the watch has ended; the next item says how.
                        Some(()) => watcher.request_progress(),
                        None => progress = None,
                    }
                    continue;
                }
            },
            None => watcher.next().await,
        };
        let Some(item) = item else {
            return Ok(());
        };
        let response = match item {
            Ok(response) => response,
            Err(e) => {
                canceled(&e);
                return Ok(());
            }
        };
        let mut out = Vec::new();
        if response.is_progress_notify() {
            out.extend_from_slice(
                format!("progress notify: {}\n", response.header().revision()).as_bytes(),
            );
        }
        printer.watch(&mut out, &response)?;
        write_stdout(&out)?;
        if !command.is_empty() {
            for event in response.events() {
                run_command(command, &response, event).await?;
            }
        }
    }
}

/// Says on stderr that the server cancelled a watch, and why, as etcdctl does.
pub fn canceled(e: &etcdkit::Error) {
    eprintln!("watch was canceled ({})", etcd_message(e));
}

/// Runs the command for one event, with stdout and stderr shared, and the event in
/// `ETCD_WATCH_REVISION` (the response's revision), `ETCD_WATCH_EVENT_TYPE`,
/// `ETCD_WATCH_KEY` and `ETCD_WATCH_VALUE`: all but the revision Go-quoted
/// (`"PUT"`, `"k"`), exactly as etcdctl sets them.
async fn run_command(
    command: &[OsString],
    response: &WatchResponse,
    event: &Event,
) -> Result<(), CliError> {
    let mut child = tokio::process::Command::new(&command[0]);
    child
        .args(&command[1..])
        .env(
            "ETCD_WATCH_REVISION",
            response.header().revision().to_string(),
        )
        .env(
            "ETCD_WATCH_EVENT_TYPE",
            go_compat::quote(event.event_type().to_string().as_bytes()),
        )
        .env("ETCD_WATCH_KEY", go_compat::quote(event.kv().key()))
        .env("ETCD_WATCH_VALUE", go_compat::quote(event.kv().value()));
    let failure = match child.status().await {
        Ok(status) if status.success() => return Ok(()),
        Ok(status) => match status.code() {
            Some(code) => format!("exit status {code}"),
            None => format!("signal: {}", signal_name(&status)),
        },
        Err(e) => spawn_error(&command[0], &e),
    };
    let quoted: Vec<String> = command
        .iter()
        .map(|a| go_compat::quote(arg_bytes(a).as_ref()))
        .collect();
    // etcdctl prints this and exits 1 with no `Error:` line.
    eprintln!("command [{}] error ({failure})", quoted.join(" "));
    Err(CliError::error(String::new()))
}
