//! `serve`: runs the in-process etcd v3 server (`etcdkit-server`) in the foreground until
//! interrupted, for trying a client, etcdctl or a test against an etcd without an etcd
//! binary.
//!
//! - One member, etcd's default limits. Data in memory only (gone when the command exits)
//!   unless `--data-dir DIR` keeps it there: every acknowledged change is on disk before
//!   it is answered, and `serve` started again on DIR (after a stop, a crash or a kill)
//!   finds it all. For clusters and failover run real etcd (`etcdkit up`).
//! - Prints one line when it answers (`serving etcd v3 on http://ADDR (member ID, in
//!   memory)`, or `..., data in DIR)`), then runs until SIGINT or SIGTERM and exits 0.
//! - An address that cannot be bound ends the command with `Error: cannot listen on ...`,
//!   a data directory that is another program's, damaged or in use by another server with
//!   `Error: cannot use data directory DIR: ...`; both with exit code 1.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::lock::Interrupt;
use super::write_stdout;
use crate::error::CliError;

/// `serve [--listen ADDR] [--name NAME] [--data-dir DIR]`. The limits are etcd's defaults (1.5 MiB requests,
/// 128 operations per transaction): the global `--max-request-bytes` is the client's.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The address to answer on (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2379")]
    pub listen: SocketAddr,
    /// The member's name (its member and cluster IDs are derived from it and the address; a
    /// --data-dir keeps those of its first start)
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub name: String,
    /// Keep the data in this directory (created if missing): every acknowledged change is
    /// on disk before it is answered, and serve started again on the directory finds it
    /// all, with the same member ID. Without it, data is in memory only
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Runs the server until interrupted.
pub async fn run(args: &ServeArgs) -> Result<(), CliError> {
    // Installed first, so an early interrupt still ends the command cleanly.
    let mut interrupt = Interrupt::new()?;
    let mut builder = etcdkit_server::Server::builder()
        .listen(args.listen)
        .name(args.name.clone());
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir.clone());
    }
    let server = builder
        .start()
        .await
        .map_err(|e| CliError::error(e.to_string()))?;
    let storage = match &args.data_dir {
        Some(dir) => format!("data in {}", dir.display()),
        None => "in memory".to_owned(),
    };
    write_stdout(
        format!(
            "serving etcd v3 on {} (member {:x}, {storage})\n",
            server.url(),
            server.member_id()
        )
        .as_bytes(),
    )?;
    interrupt.wait().await;
    server.shutdown().await;
    Ok(())
}
