//! `serve`: runs the in-process etcd v3 server (`etcdkit-server`) in the foreground until
//! interrupted, for trying a client, etcdctl or a test against an etcd without an etcd
//! binary.
//!
//! - One member, data in memory only, etcd's default limits: everything is gone when the command exits. For
//!   clusters, failover and durable data run real etcd (`etcdkit up`).
//! - Prints one line when it answers (`serving etcd v3 on http://ADDR (member ID, in
//!   memory)`), then runs until SIGINT or SIGTERM and exits 0.
//! - An address that cannot be bound ends the command with `Error: cannot listen on ...`
//!   and exit code 1.

use std::net::SocketAddr;

use clap::Args;

use super::lock::Interrupt;
use super::write_stdout;
use crate::error::CliError;

/// `serve [--listen ADDR] [--name NAME]`. The limits are etcd's defaults (1.5 MiB requests,
/// 128 operations per transaction): the global `--max-request-bytes` is the client's.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The address to answer on (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2379")]
    pub listen: SocketAddr,
    /// The member's name (its member and cluster IDs are derived from it)
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub name: String,
}

/// Runs the server until interrupted.
pub async fn run(args: &ServeArgs) -> Result<(), CliError> {
    // Installed first, so an early interrupt still ends the command cleanly.
    let mut interrupt = Interrupt::new()?;
    let server = etcdkit_server::Server::builder()
        .listen(args.listen)
        .name(args.name.clone())
        .start()
        .await
        .map_err(|e| CliError::error(e.to_string()))?;
    write_stdout(
        format!(
            "serving etcd v3 on {} (member {:x}, in memory)\n",
            server.url(),
            server.member_id()
        )
        .as_bytes(),
    )?;
    interrupt.wait().await;
    server.shutdown().await;
    Ok(())
}
