//! The commands. Each checks its arguments the way etcdctl does (same messages, same exit
//! codes, same order: arguments first, then the output format, then the connection), runs
//! its request and prints the response.

pub mod alarm;
pub mod auth;
pub mod bench;
pub mod compaction;
pub mod defrag;
pub mod del;
pub mod elect;
pub mod endpoint;
pub mod get;
pub mod lease;
pub mod lock;
pub mod member;
pub mod move_leader;
pub mod put;
pub mod registry;
pub mod role;
pub mod snapshot;
pub mod txn;
pub mod up;
pub mod user;
pub mod watch;

use std::ffi::OsString;
use std::io::Write;

use bytes::Bytes;
use etcdkit::{Client, ClientOptions, ErrorKind};

use crate::args::{Cli, Command, EndpointCommand, GlobalArgs};
use crate::error::{CliError, ExitCode};
use crate::output::{Format, Printer};
use crate::security;

/// Runs the parsed command line.
pub async fn run(mut cli: Cli) -> Result<(), CliError> {
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
        Command::Snapshot(command) => snapshot::run(global, &command).await,
        Command::Bench(args) => bench::run(global, &args).await,
        Command::Up(args) => up::run(&args).await,
    }
}

/// The printer that `-w` and `--hex` ask for.
pub fn printer(global: &GlobalArgs) -> Result<Printer, CliError> {
    Ok(Printer {
        format: Format::parse(&global.write_out)?,
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

/// A client of all the endpoints.
pub async fn connect(global: &GlobalArgs) -> Result<Client, CliError> {
    connect_to(global, endpoints(global)?).await
}

/// A client of these endpoints, with the command's dial and request timeouts.
pub async fn connect_to(global: &GlobalArgs, endpoints: Vec<String>) -> Result<Client, CliError> {
    let options = ClientOptions::new(endpoints)
        .dial_timeout(global.dial_timeout)
        .request_timeout(global.command_timeout);
    security::apply(global, options)?
        .connect()
        .await
        .map_err(|e| {
            if e.kind() == ErrorKind::InvalidEndpoint {
                CliError::new(ExitCode::BadConnection, e.to_string())
            } else {
                CliError::from_etcd(&e)
            }
        })
}

/// The endpoints a command works on: those given, or with `--cluster` the client URLs
/// of every member in the member list (asked of the given endpoints).
pub async fn target_endpoints(global: &GlobalArgs, cluster: bool) -> Result<Vec<String>, CliError> {
    if !cluster {
        return endpoints(global);
    }
    let client = connect(global).await?;
    let list = client
        .cluster()
        .member_list()
        .await
        .map_err(|e| CliError::from_etcd(&e))?;
    Ok(list
        .members()
        .iter()
        .flat_map(|m| m.client_urls().iter().cloned())
        .collect())
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
