//! `watch [options] [KEY [RANGE_END]] [-- COMMAND ARGS...]`: prints every change as
//! etcdctl does, until interrupted, and runs COMMAND for each event when one is given.
//! The key may come from `ETCDCTL_WATCH_KEY` / `ETCDCTL_WATCH_RANGE_END` instead;
//! `watch -i` reads watch commands from stdin (see [`interactive`]).
//!
//! The watch resumes by itself across member failures (from the revision after the last
//! one printed); only the server cancelling it (a compaction) ends it, with etcdctl's
//! `ExitInterrupted` (5).

mod interactive;
mod print;

use std::ffi::OsStr;

use bytes::Bytes;
use etcdkit::{Client, ErrorKind, Revision};

use super::{arg_bytes, connect, printer_for};
use crate::args::{GlobalArgs, WatchArgs};
use crate::env::{WATCH_KEY, WATCH_RANGE_END};
use crate::error::{CliError, ExitCode};
use crate::go_compat;
use crate::output::Supported;

/// etcdctl's argument-count errors (all exit 128).
const BAD_ARGS_NUM: &str = "bad number of arguments";
const BAD_ARGS_CONFLICT_ENV: &str = "bad number of arguments (found conflicting environment key)";
const BAD_ARGS_SEPARATOR: &str = "bad number of arguments (found separator --, but no commands)";

/// What to watch, once the arguments and the environment are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// KEY and RANGE_END as given (more are ignored, as by etcdctl).
    pub keys: Vec<Bytes>,
    pub prefix: bool,
    pub rev: i64,
    pub prev_kv: bool,
    pub progress_notify: bool,
}

/// The key and range end given in the environment, checked as etcdctl checks them.
#[derive(Debug, Clone, Default)]
pub struct EnvKeys {
    key: Option<Bytes>,
    range_end: Option<Bytes>,
}

impl EnvKeys {
    /// Reads `ETCDCTL_WATCH_KEY` and `ETCDCTL_WATCH_RANGE_END` (empty counts as unset).
    ///
    /// # Errors
    ///
    /// A range end without a key: exit 128.
    pub fn from_env() -> Result<EnvKeys, CliError> {
        let read = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(|v| arg_bytes(&v))
        };
        let keys = EnvKeys {
            key: read(WATCH_KEY),
            range_end: read(WATCH_RANGE_END),
        };
        if let (None, Some(end)) = (&keys.key, &keys.range_end) {
            return Err(CliError::bad_args(format!(
                "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={}",
                go_compat::quote(end)
            )));
        }
        Ok(keys)
    }

    /// The keys to watch: the environment's, or else the arguments'.
    fn keys(&self, args: Vec<Bytes>) -> Vec<Bytes> {
        match &self.key {
            Some(key) => {
                let mut keys = vec![key.clone()];
                keys.extend(self.range_end.clone());
                keys.extend(args);
                keys
            }
            None => args,
        }
    }
}

pub async fn run(global: &GlobalArgs, args: &WatchArgs) -> Result<(), CliError> {
    let env = EnvKeys::from_env()?;
    if args.interactive {
        return interactive::run(global, args.progress_notify, &env).await;
    }
    // etcdctl looks for `--` in the raw command line after the `watch` token.
    let separator = std::env::args_os()
        .skip_while(|a| a != OsStr::new("watch"))
        .any(|a| a == OsStr::new("--"));
    if separator && args.exec.is_empty() {
        return Err(CliError::bad_args(BAD_ARGS_SEPARATOR));
    }
    if args.args.is_empty() && env.key.is_none() && !separator {
        return Err(CliError::bad_args(BAD_ARGS_NUM));
    }
    if !args.args.is_empty() && env.key.is_some() {
        return Err(CliError::bad_args(BAD_ARGS_CONFLICT_ENV));
    }
    let request = Request {
        keys: env.keys(args.args.iter().map(arg_bytes).collect()),
        prefix: args.prefix,
        rev: args.rev,
        prev_kv: args.prev_kv,
        progress_notify: args.progress_notify,
    };
    request.check()?;
    let printer = printer_for(global, Supported::FIELDS_PROTOBUF)?;
    let client = connect(global).await?;
    match request.start(&client).await {
        Ok(watcher) => print::events(watcher, &printer, &args.exec, None).await?,
        // etcdctl learns of a compacted start revision from the cancelled watch itself.
        Err(e) if e.kind() == ErrorKind::Compacted => print::canceled(&e),
        Err(e) => return Err(CliError::from_etcd(&e)),
    }
    Err(CliError::new(
        ExitCode::Interrupted,
        "watch is canceled by the server",
    ))
}

impl Request {
    /// etcdctl's checks before watching: a key, and `--prefix` not with a range end.
    ///
    /// # Errors
    ///
    /// etcdctl's messages, exit 128.
    pub fn check(&self) -> Result<(), CliError> {
        if self.keys.is_empty() {
            return Err(CliError::bad_args(BAD_ARGS_NUM));
        }
        if self.keys.len() == 2 && self.prefix {
            return Err(CliError::bad_args(
                "`range_end` and `--prefix` are mutually exclusive",
            ));
        }
        Ok(())
    }

    /// Starts the watch (after [`check`](Self::check)). etcdctl takes a range end only when
    /// exactly KEY and RANGE_END are given.
    ///
    /// # Errors
    ///
    /// The client's, when the watch cannot be opened.
    pub async fn start(&self, client: &Client) -> etcdkit::Result<etcdkit::watch::Watcher> {
        let key = self.keys.first().cloned().unwrap_or_default();
        let mut watch = client.watch().key(key.clone());
        if self.keys.len() == 2 {
            watch = watch.range_end(self.keys[1].clone());
        } else if self.prefix {
            // etcdctl watches everything for `--prefix ""`.
            watch = if key.is_empty() {
                client.watch().key("\0").from_key()
            } else {
                watch.prefix()
            };
        }
        if self.rev > 0 {
            watch = watch.start_revision(Revision(self.rev));
        }
        if self.prev_kv {
            watch = watch.prev_kv();
        }
        if self.progress_notify {
            watch = watch.progress_notify();
        }
        watch.await
    }
}
