//! The commands. Each checks its arguments the way etcdctl does (same messages, same exit
//! codes, same order: arguments first, then the output format, then the connection), runs
//! its request and prints the response.

pub mod alarm;
pub mod auth;
pub mod bench;
pub mod check;
pub mod compaction;
pub mod completion;
pub mod defrag;
pub mod del;
pub mod downgrade;
pub mod elect;
pub mod endpoint;
pub mod get;
pub mod lease;
pub mod lock;
pub mod make_mirror;
pub mod member;
pub mod move_leader;
pub mod peer_urls;
pub mod put;
pub mod registry;
pub mod role;
pub mod serve;
pub mod snapshot;
pub mod txn;
pub mod up;
pub mod user;
pub mod watch;

use std::ffi::OsString;
use std::future::Future;
use std::io::Write;

use bytes::Bytes;
use etcdkit::{Client, ClientOptions, ErrorKind, KeyRange};

use crate::args::{Cli, Command, EndpointCommand, GlobalArgs};
use crate::error::{CliError, ExitCode, etcd_message};
use crate::output::{Format, Printer, Supported};
use crate::security;

/// Runs the parsed command line.
pub async fn run(mut cli: Cli) -> Result<(), CliError> {
    if cli.command.reads_etcdctl_env()
        && let Some(found) = crate::discovery::endpoints(&cli.global).await?
    {
        // As etcdctl: discovered endpoints come before `--endpoints`.
        cli.global.endpoints = found;
    }
    security::resolve_credentials(&mut cli.global)?;
    let global = &cli.global;
    match cli.command {
        Command::Get(args) => get::run(global, &args).await,
        Command::Put(args) => put::run(global, &args).await,
        Command::Del(args) => del::run(global, &args).await,
        Command::Txn(args) => txn::run(global, &args).await,
        Command::Compaction(args) => compaction::run(global, &args).await,
        Command::Watch(args) => watch::run(global, &args).await,
        Command::Endpoint(EndpointCommand::Health { cluster }) => {
            endpoint::health(global, cluster).await
        }
        Command::Endpoint(EndpointCommand::Status { cluster }) => {
            endpoint::status(global, cluster).await
        }
        Command::Endpoint(EndpointCommand::Hashkv { cluster, rev }) => {
            endpoint::hashkv(global, cluster, rev).await
        }
        Command::Lease(command) => lease::run(global, &command).await,
        Command::Registry(args) => registry::run(global, &args).await,
        Command::Lock(args) => lock::run(global, &args).await,
        Command::Elect(args) => elect::run(global, &args).await,
        Command::Auth(command) => auth::run(global, &command).await,
        Command::User(command) => user::run(global, &command).await,
        Command::Role(command) => role::run(global, &command).await,
        Command::Member(command) => member::run(global, &command).await,
        Command::Alarm(command) => alarm::run(global, &command).await,
        Command::Defrag(args) => defrag::run(global, &args).await,
        Command::MoveLeader { args } => move_leader::run(global, &args).await,
        Command::Completion { args } => completion::run(&args),
        Command::Downgrade(command) => downgrade::run(global, &command).await,
        Command::MakeMirror(args) => make_mirror::run(global, &args).await,
        Command::Snapshot(command) => snapshot::run(global, &command).await,
        Command::Bench(args) => bench::run(global, &args).await,
        Command::Check(command) => check::run(global, &command).await,
        Command::Up(args) => up::run(&args).await,
        Command::Serve(args) => serve::run(&args).await,
        Command::Version => version(),
    }
}

/// The etcd API version etcdkit speaks (etcdctl 3.6 prints `API version: 3.6`).
pub const API_VERSION: &str = "3.6";

/// `version`: the two lines etcdctl prints, in the same shape (`<tool> version: X`, then
/// `API version: 3.6`), naming etcdkit rather than claiming to be etcdctl.
fn version() -> Result<(), CliError> {
    write_stdout(
        format!(
            "etcdkit version: {}\nAPI version: {API_VERSION}\n",
            env!("CARGO_PKG_VERSION")
        )
        .as_bytes(),
    )
}

/// The printer that `-w` and `--hex` ask for, for a command that prints only `simple`
/// and `json`.
pub fn printer(global: &GlobalArgs) -> Result<Printer, CliError> {
    printer_for(global, Supported::BASIC)
}

/// The printer that `-w` and `--hex` ask for, for a command that also prints the
/// `supported` formats.
pub fn printer_for(global: &GlobalArgs, supported: Supported) -> Result<Printer, CliError> {
    Ok(Printer {
        format: Format::parse(&global.write_out, supported)?,
        hex: global.hex,
    })
}

/// The endpoints, taken as given (no trimming, as etcdctl); empty items are dropped.
pub fn endpoints(global: &GlobalArgs) -> Result<Vec<String>, CliError> {
    let endpoints: Vec<String> = global
        .endpoints
        .iter()
        .filter(|e| !e.is_empty())
        .cloned()
        .collect();
    if endpoints.is_empty() {
        return Err(CliError::new(
            ExitCode::BadConnection,
            "etcdclient: no available endpoints",
        ));
    }
    Ok(endpoints)
}

/// A client of all the endpoints, with the command's dial and request timeouts.
pub async fn connect(global: &GlobalArgs) -> Result<Client, CliError> {
    client_options(global)?
        .connect()
        .await
        .map_err(|e| connect_error(&e))
}

/// The client options the global flags ask for. The keepalive flags apply only when
/// given: etcdctl's defaults (a ping every 2 s, 6 s to answer) would notice a dead member
/// later than the client's own.
fn client_options(global: &GlobalArgs) -> Result<ClientOptions, CliError> {
    let mut options = ClientOptions::new(endpoints(global)?)
        .dial_timeout(global.dial_timeout)
        .request_timeout(global.command_timeout);
    if global.keepalive_given.0 {
        options = options.keepalive_interval(global.keepalive_time);
    }
    if global.keepalive_given.1 {
        options = options.keepalive_timeout(global.keepalive_timeout);
    }
    if global.max_request_bytes > 0 {
        options = options.max_send_size(global.max_request_bytes as usize);
    }
    if global.max_recv_bytes > 0 {
        options = options.max_recv_size(global.max_recv_bytes as usize);
    }
    security::apply(global, options)
}

/// A failure to build a client, as etcdctl reports it.
fn connect_error(e: &etcdkit::Error) -> CliError {
    if e.kind() == ErrorKind::InvalidEndpoint {
        CliError::new(ExitCode::BadConnection, e.to_string())
    } else {
        CliError::from_etcd(e)
    }
}

/// The members a per-member command (`endpoint health|status|hashkv`, `defrag`) asks,
/// each on its own through one client by member-targeted calls: the endpoints given, or
/// with `--cluster` the client URLs of every member in the member list.
#[derive(Clone)]
pub struct Members {
    /// The endpoints to ask, in the order given (or listed).
    pub endpoints: Vec<String>,
    /// The client, or why none could be connected: etcdctl's requests wait for a
    /// connection until the command timeout, so each endpoint then reports that failure
    /// as its own and the command goes on.
    client: Result<Client, String>,
}

impl Members {
    /// Connects one client to the given endpoints and, with `cluster`, lists the members.
    pub async fn connect(global: &GlobalArgs, cluster: bool) -> Result<Members, CliError> {
        let connected = client_options(global)?.connect().await;
        if cluster {
            let client = connected.map_err(|e| connect_error(&e))?;
            let list = etcd(client.cluster().member_list().await)?;
            let endpoints = list
                .members()
                .iter()
                .flat_map(|m| m.client_urls().iter().cloned())
                .collect();
            return Ok(Members {
                endpoints,
                client: Ok(client),
            });
        }
        let client = match connected {
            Ok(client) => Ok(client),
            // An endpoint that does not parse fails the command, as for every other one.
            Err(e) if e.kind() == ErrorKind::InvalidEndpoint => return Err(connect_error(&e)),
            Err(e) => Err(connect_error(&e).message),
        };
        Ok(Members {
            endpoints: endpoints(global)?,
            client,
        })
    }

    /// Runs a member-targeted request with the client; its failure (or the connection's)
    /// worded as etcdctl words it.
    pub async fn ask<T, F, Fut>(&self, request: F) -> Result<T, String>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = etcdkit::Result<T>>,
    {
        match &self.client {
            Ok(client) => request(client.clone()).await.map_err(|e| etcd_message(&e)),
            Err(message) => Err(message.clone()),
        }
    }

    /// Asks every member in turn, each by a member-targeted `request` (given the client
    /// and the endpoint). Returns the answers in order, and whether any failed: a
    /// failure is reported on stderr with `failure(endpoint, error)` and the others are
    /// still asked, as etcdctl does.
    pub async fn ask_each<T, F, Fut>(
        &self,
        mut request: F,
        failure: impl Fn(&str, &str) -> String,
    ) -> (Vec<(String, T)>, bool)
    where
        F: FnMut(Client, String) -> Fut,
        Fut: Future<Output = etcdkit::Result<T>>,
    {
        let mut answers = Vec::new();
        let mut failed = false;
        for endpoint in &self.endpoints {
            match self.ask(|client| request(client, endpoint.clone())).await {
                Ok(answer) => answers.push((endpoint.clone(), answer)),
                Err(error) => {
                    failed = true;
                    eprintln!("{}", failure(endpoint, &error));
                }
            }
        }
        (answers, failed)
    }
}

/// The end of a per-member command: when some member failed (each already reported on
/// stderr), exit 1 without an `Error:` line, as etcdctl does.
pub fn some_failed(failed: bool) -> Result<(), CliError> {
    if failed {
        return Err(CliError::new(ExitCode::Error, String::new()));
    }
    Ok(())
}

/// The keys a `get` or `del` names, as etcdctl reads its flags: `--from-key` and
/// `--prefix` win over a range end, and `--prefix ""` (like `--from-key ""`) is every key.
pub fn key_range(key: &Bytes, range_end: Option<&Bytes>, prefix: bool, from_key: bool) -> KeyRange {
    if from_key {
        KeyRange::from_key(key.clone())
    } else if prefix {
        KeyRange::prefix(key.clone())
    } else if let Some(end) = range_end {
        KeyRange::range(key.clone(), end.clone())
    } else {
        KeyRange::key(key.clone())
    }
}

/// The `RANGE_END` argument of get and del, refused next to `--prefix` or `--from-key`
/// (`open_ended`).
pub fn range_end_arg(end: Option<&OsString>, open_ended: bool) -> Result<Option<Bytes>, CliError> {
    match end {
        Some(_) if open_ended => Err(CliError::bad_args(
            "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
        )),
        Some(end) => Ok(Some(arg_bytes(end))),
        None => Ok(None),
    }
}

/// Runs a request whose answer is only a header, mapping its error as etcdctl words it.
pub fn etcd<T>(result: etcdkit::Result<T>) -> Result<T, CliError> {
    result.map_err(|e| CliError::from_etcd(&e))
}

/// Writes a command's output to stdout. A reader that went away (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Writes a command's report lines to stderr in one go.
pub fn write_stderr(bytes: &[u8]) -> Result<(), CliError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut stderr = std::io::stderr().lock();
    stderr.write_all(bytes).and_then(|()| stderr.flush())?;
    Ok(())
}

/// An argument as bytes: keys and values need not be UTF-8.
pub fn arg_bytes(arg: &OsString) -> Bytes {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Bytes::copy_from_slice(arg.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        Bytes::from(arg.to_string_lossy().into_owned())
    }
}

/// Bytes as an argument (for txn lines, which are bytes).
pub fn bytes_arg(bytes: Vec<u8>) -> OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(bytes)
    }
    #[cfg(not(unix))]
    {
        OsString::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}
