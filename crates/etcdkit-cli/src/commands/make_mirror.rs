//! `make-mirror [options] <destination>`: mirrors a prefix of the cluster of
//! `--endpoints` into the cluster at `<destination>` with the recipes' syncer
//! ([`etcdkit_recipes::mirror`]): a copy of the prefix at one revision, then every change,
//! each source revision in one destination transaction (split above `--max-txn-ops`).
//! It runs until it fails or is interrupted; every 30 seconds it prints how many keys it
//! has mirrored, as etcdctl does.
//!
//! As etcdctl: without `--dest-prefix`, keys keep their source names; `--dest-prefix`
//! replaces the prefix, `--no-dest-prefix` removes it; `--rev N` skips the copy and
//! replays the changes from revision N. Unlike etcdctl 3.6, `--rev` keeps the default
//! destination prefix (etcdctl then strips the source prefix, as `--no-dest-prefix`).
//!
//! `ETCDKIT_MIRROR_PROGRESS_INTERVAL` (a Go duration, for tests) changes the 30 seconds.

use std::time::Duration;

use etcdkit_recipes::mirror::{ClientSink, DestPrefix, MirrorError, Syncer};

use super::{arg_bytes, connect, write_stdout};
use crate::args::{GlobalArgs, MakeMirrorArgs};
use crate::error::{CliError, ExitCode};
use crate::go_compat;
use crate::output::mirror::progress_line;
use crate::security::Secret;

/// How often etcdctl prints the count.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(30);

pub async fn run(global: &GlobalArgs, args: &MakeMirrorArgs) -> Result<(), CliError> {
    let [destination] = args.args.as_slice() else {
        return Err(CliError::bad_args(
            "make-mirror takes one destination argument",
        ));
    };
    let dest_prefix = dest_prefix(args)?;
    let interval = progress_interval()?;
    let dest = connect(&destination_flags(global, args, destination)?).await?;
    let source = connect(global).await?;

    let prefix = arg_bytes(&args.prefix);
    let syncer = Syncer::new(&source, prefix.clone()).start_revision(args.rev);
    let progress = syncer.progress();
    let mut sink =
        ClientSink::new(&dest, prefix, dest_prefix).max_txn_ops(args.max_txn_ops as usize);

    let mirror = syncer.run(&mut sink);
    tokio::pin!(mirror);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        tokio::select! {
            result = &mut mirror => {
                let Err(e) = result;
                return Err(mirror_error(&e));
            }
            _ = ticks.tick() => {
                let total = progress.borrow().keys;
                write_stdout(&progress_line(total))?;
            }
        }
    }
}

/// Where mirrored keys go, from `--dest-prefix` / `--no-dest-prefix` (not both).
fn dest_prefix(args: &MakeMirrorArgs) -> Result<DestPrefix, CliError> {
    match (args.no_dest_prefix, args.dest_prefix.is_empty()) {
        (true, false) => Err(CliError::bad_args(
            "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one",
        )),
        (true, true) => Ok(DestPrefix::Strip),
        (false, true) => Ok(DestPrefix::Keep),
        (false, false) => Ok(DestPrefix::Replace(arg_bytes(&args.dest_prefix))),
    }
}

/// The progress interval: etcdctl's 30 s unless the environment says otherwise.
fn progress_interval() -> Result<Duration, CliError> {
    match std::env::var("ETCDKIT_MIRROR_PROGRESS_INTERVAL") {
        Ok(text) => match go_compat::parse_duration(&text) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(CliError::bad_args(
                "ETCDKIT_MIRROR_PROGRESS_INTERVAL must be positive",
            )),
            Err(e) => Err(CliError::bad_args(format!(
                "ETCDKIT_MIRROR_PROGRESS_INTERVAL: {e}"
            ))),
        },
        Err(_) => Ok(PROGRESS_INTERVAL),
    }
}

/// The connection flags of the destination: the global ones (timeouts, keepalive,
/// message sizes) with the destination's endpoint, TLS files, transport security and
/// credentials in place of the source's. As in etcdctl, nothing else of the source's
/// security carries over (no `--insecure-skip-tls-verify`, no discovery).
fn destination_flags(
    global: &GlobalArgs,
    args: &MakeMirrorArgs,
    destination: &str,
) -> Result<GlobalArgs, CliError> {
    let mut flags = global.clone();
    flags.endpoints = vec![destination.to_owned()];
    flags.cacert = args.dest_cacert.clone();
    flags.cert = args.dest_cert.clone();
    flags.key = args.dest_key.clone();
    flags.insecure_transport = args.dest_insecure_transport;
    flags.insecure_skip_tls_verify = false;
    flags.discovery_srv = String::new();
    flags.user = None;
    flags.password = None;
    flags.credentials = dest_credentials(args)?;
    Ok(flags)
}

/// The destination's user and password, read as etcdctl reads `--dest-user` and
/// `--dest-password` (a name without a password has it asked for on the terminal).
fn dest_credentials(args: &MakeMirrorArgs) -> Result<Option<(String, Secret)>, CliError> {
    let Some(user) = args.dest_user.as_ref().filter(|u| !u.expose().is_empty()) else {
        return Ok(None);
    };
    let user = user.expose();
    if let Some(password) = args
        .dest_password
        .as_ref()
        .filter(|p| !p.expose().is_empty())
    {
        return Ok(Some((user.to_owned(), password.clone())));
    }
    if let Some((name, password)) = user.split_once(':') {
        return Ok(Some((name.to_owned(), secret(password))));
    }
    Ok(Some((user.to_owned(), ask_dest_password(user)?)))
}

fn secret(text: &str) -> Secret {
    Secret::parse(text).unwrap_or_default()
}

/// Asks for the destination password on the terminal, without echo.
fn ask_dest_password(user: &str) -> Result<Secret, CliError> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(CliError::error(format!(
            "--dest-user {user} has no password and there is no terminal to ask for it: \
             pass --dest-user {user}:PASSWORD or --dest-password PASSWORD"
        )));
    }
    rpassword::prompt_password("Destination Password: ")
        .map(|p| secret(&p))
        .map_err(|e| CliError::error(format!("cannot read the password: {e}")))
}

/// Why mirroring stopped, as etcdctl reports it (exit 1).
fn mirror_error(e: &MirrorError<etcdkit::Error>) -> CliError {
    match e {
        MirrorError::Compacted { .. } => {
            let mut error = CliError::new(
                ExitCode::Error,
                "etcdserver: mvcc: required revision has been compacted",
            );
            error.detail = Some(e.to_string());
            error
        }
        MirrorError::Source(e) | MirrorError::Sink(e) => CliError::from_etcd(e),
        _ => CliError::error(e.to_string()),
    }
}
